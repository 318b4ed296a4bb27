//! The store: one SQLite file, one row per visitor, holding the visitor's parked sign-in,
//! sign-up or session. The gateway keeps nothing else between requests, so a restarted
//! gateway picks up every visitor where they were.
//!
//! Rows hold secrets (the tokens of a session; a password or code while a rate limit holds
//! the step that carries it), so:
//! - the file is created readable and writable by its owner only, and refused if it is
//!   readable by anyone else;
//! - `secure_delete` zeroes what a row held once it is rewritten or deleted, and the
//!   rollback journal (not a WAL) is deleted after each write, so a password the host has
//!   accepted is gone from the file, not only from the row;
//! - every row expires: a wizard some minutes after its last step, a session when its
//!   refresh token does. An expired row reads as absent, and [`Store::sweep`] deletes it.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use b2core_auth::client::{SignIn, SignUp};
use b2core_auth::Session;
use rusqlite::{params, Connection, OptionalExtension};

/// What a visitor is in the middle of.
#[derive(Debug)]
pub enum Parked {
    SignIn(SignIn),
    SignUp(SignUp),
    Session(Session),
}

impl Parked {
    fn kind(&self) -> &'static str {
        match self {
            Parked::SignIn(_) => "signin",
            Parked::SignUp(_) => "signup",
            Parked::Session(_) => "session",
        }
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            Parked::SignIn(flow) => serde_json::to_string(flow),
            Parked::SignUp(flow) => serde_json::to_string(flow),
            Parked::Session(session) => serde_json::to_string(session),
        }
    }

    fn from_json(kind: &str, json: &str) -> Result<Self, String> {
        let parked = match kind {
            "signin" => serde_json::from_str(json).map(Parked::SignIn),
            "signup" => serde_json::from_str(json).map(Parked::SignUp),
            "session" => serde_json::from_str(json).map(Parked::Session),
            other => return Err(format!("a row of unknown kind `{other}`")),
        };
        // A serde error names what was wrong, never a value.
        parked.map_err(|e| format!("a parked {kind} that does not read back: {e}"))
    }
}

/// A visitor's row.
#[derive(Debug)]
pub struct Row {
    pub parked: Parked,
    /// The email the visitor signs in (or up) with, for the page; never a secret.
    pub email: Option<String>,
}

/// The store. Each call runs its statement on tokio's blocking pool: a commit waits for
/// the disk, and the runtime's threads go on serving meanwhile.
pub struct Store {
    db: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (or creates, owner-only) the file at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!("store {}: {what}: {e}", path.display())
        };
        create_owner_only(path).map_err(|e| fail("cannot create it owner-only", &e))?;
        let db = Connection::open(path).map_err(|e| fail("cannot open it", &e))?;
        db.execute_batch(
            "PRAGMA secure_delete = ON;
             PRAGMA journal_mode = DELETE;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS visitors (
                 id TEXT PRIMARY KEY,
                 kind TEXT NOT NULL,
                 parked TEXT NOT NULL,
                 email TEXT,
                 expires_at INTEGER NOT NULL
             );
             CREATE INDEX IF NOT EXISTS visitors_expiry ON visitors (expires_at);",
        )
        .map_err(|e| fail("cannot set it up", &e))?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
        })
    }

    /// The visitor's row, unless there is none or it has expired at `now`.
    pub async fn load(&self, id: &str, now: SystemTime) -> Result<Option<Row>, String> {
        let id = id.to_owned();
        let row = self
            .run(move |db| {
                db.query_row(
                    "SELECT kind, parked, email FROM visitors WHERE id = ?1 AND expires_at > ?2",
                    params![id, unix(now)],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, Option<String>>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| format!("store: cannot read a row: {e}"))
            })
            .await?;
        let Some((kind, json, email)) = row else {
            return Ok(None);
        };
        Ok(Some(Row {
            parked: Parked::from_json(&kind, &json)?,
            email,
        }))
    }

    /// Writes the visitor's row, to expire at `expires_at`.
    pub async fn save(&self, id: &str, row: &Row, expires_at: SystemTime) -> Result<(), String> {
        let json = row
            .parked
            .to_json()
            .map_err(|e| format!("store: cannot park the {}: {e}", row.parked.kind()))?;
        let (id, kind, email) = (id.to_owned(), row.parked.kind(), row.email.clone());
        self.run(move |db| {
            db.execute(
                "INSERT INTO visitors (id, kind, parked, email, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET kind = ?2, parked = ?3, email = ?4,
                     expires_at = ?5",
                params![id, kind, json, email, unix(expires_at)],
            )
            .map(drop)
            .map_err(|e| format!("store: cannot write a row: {e}"))
        })
        .await
    }

    pub async fn delete(&self, id: &str) -> Result<(), String> {
        let id = id.to_owned();
        self.run(move |db| {
            db.execute("DELETE FROM visitors WHERE id = ?1", params![id])
                .map(drop)
                .map_err(|e| format!("store: cannot delete a row: {e}"))
        })
        .await
    }

    /// Deletes every row expired at `now`; returns how many.
    pub async fn sweep(&self, now: SystemTime) -> Result<usize, String> {
        self.run(move |db| {
            db.execute(
                "DELETE FROM visitors WHERE expires_at <= ?1",
                params![unix(now)],
            )
            .map_err(|e| format!("store: cannot delete expired rows: {e}"))
        })
        .await
    }

    /// Runs `statement` on the connection, on the blocking pool. A panic elsewhere leaves
    /// the connection usable (SQLite rolls back an unfinished statement).
    async fn run<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&Connection) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            statement(&db.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await
        .map_err(|e| format!("store: the statement's task failed: {e}"))?
    }
}

/// Whole seconds since the Unix epoch (0 before it).
fn unix(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Creates the file with mode 0600 if it does not exist, and refuses an existing one that
/// others can read or write. SQLite gives its journal the same mode as the database.
#[cfg(unix)]
fn create_owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = std::fs::metadata(path)?.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "it is open to others (mode {mode:o}): make it owner-only (chmod 600)"
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_owner_only(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
}
