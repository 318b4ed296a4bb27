//! Accounts the simulator knows: clients (the B2Core UI) and staff (the Back Office).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use super::rng::mix;

/// A client of the B2Core UI, as the simulator's admin sets it up.
///
/// `Debug` never shows the password.
///
/// ```
/// use b2core_auth::sim::ClientAccount;
///
/// let account = ClientAccount::new("username@example.com", "QAzqw123!").with_google().with_sms();
/// assert!(account.google && account.sms);
/// assert!(account.phone.starts_with("+1555"));
/// assert!(!format!("{account:?}").contains("QAzqw123!"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientAccount {
    /// The sign-in email (matched ASCII case-insensitively).
    pub email: String,
    /// The current password.
    pub password: String,
    /// Where SMS codes go ([`SentCode::to`](super::SentCode::to)).
    pub phone: String,
    /// Google Authenticator 2FA is on; see [`Server::google_code`](super::Server::google_code).
    pub google: bool,
    /// SMS 2FA is on.
    pub sms: bool,
    /// The admin forces a password reset at the next sign-in.
    pub force_password_reset: bool,
}

impl ClientAccount {
    /// An account with no 2FA, no forced reset and no phone.
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            phone: String::new(),
            google: false,
            sms: false,
            force_password_reset: false,
        }
    }

    /// Turns Google Authenticator 2FA on.
    #[must_use]
    pub fn with_google(mut self) -> Self {
        self.google = true;
        self
    }

    /// Turns SMS 2FA on. Without a phone yet, the account gets one derived from its email
    /// (`+1555` and seven digits), so that two accounts rarely share one.
    #[must_use]
    pub fn with_sms(mut self) -> Self {
        self.sms = true;
        if self.phone.is_empty() {
            let digits = fnv1a(self.email.to_ascii_lowercase().as_bytes()) % 10_000_000;
            self.phone = format!("+1555{digits:07}");
        }
        self
    }

    /// Sets the phone SMS codes go to.
    #[must_use]
    pub fn with_phone(mut self, phone: impl Into<String>) -> Self {
        self.phone = phone.into();
        self
    }

    /// Forces a password reset at the next sign-in (workflow `reset_password_email`).
    #[must_use]
    pub fn with_forced_reset(mut self) -> Self {
        self.force_password_reset = true;
        self
    }
}

impl fmt::Debug for ClientAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAccount")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("phone", &self.phone)
            .field("google", &self.google)
            .field("sms", &self.sms)
            .field("force_password_reset", &self.force_password_reset)
            .finish()
    }
}

/// A Back Office user.
///
/// `Debug` never shows the password.
///
/// ```
/// use b2core_auth::sim::StaffAccount;
///
/// let staff = StaffAccount::new("foo@bar.com", "Secret123").with_email_2fa();
/// assert!(staff.email_2fa);
/// assert!(!format!("{staff:?}").contains("Secret123"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StaffAccount {
    /// The sign-in email (matched ASCII case-insensitively).
    pub email: String,
    /// The password.
    pub password: String,
    /// Sign-in needs a code sent by email (`2faRequired: true`).
    pub email_2fa: bool,
}

impl StaffAccount {
    /// An account without 2FA.
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            email_2fa: false,
        }
    }

    /// Turns email 2FA on.
    #[must_use]
    pub fn with_email_2fa(mut self) -> Self {
        self.email_2fa = true;
        self
    }
}

impl fmt::Debug for StaffAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffAccount")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("email_2fa", &self.email_2fa)
            .finish()
    }
}

/// A client account plus what the server keeps about it.
#[derive(Clone)]
pub(crate) struct ClientRecord {
    pub(crate) account: ClientAccount,
    /// Numeric id, the `sub` of its tokens.
    pub(crate) id: u64,
    /// The Google Authenticator secret.
    pub(crate) google_secret: u64,
}

/// A staff account plus its id.
#[derive(Clone)]
pub(crate) struct StaffRecord {
    pub(crate) account: StaffAccount,
    pub(crate) id: u64,
}

/// The Google Authenticator period.
pub(crate) const GOOGLE_PERIOD_SECS: i64 = 30;

/// The 30-second period `now` falls in (floor division, also before 1970).
pub(crate) fn google_period(now: SystemTime) -> i64 {
    let secs = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            (-whole).saturating_sub(i64::from(d.subsec_nanos() > 0))
        }
    };
    secs.div_euclid(GOOGLE_PERIOD_SECS)
}

/// The six-digit code of `secret` for `period`. Deterministic, not RFC 6238 (that needs
/// HMAC-SHA-1, which the crate's dependencies do not offer).
pub(crate) fn google_code(secret: u64, period: i64) -> String {
    // Reinterpreting the bits of a negative period is fine: only determinism matters.
    let v = mix(secret ^ mix(period as u64)) % 1_000_000;
    format!("{v:06}")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The key under which an email is stored and counted.
pub(crate) fn email_key(email: &str) -> String {
    email.to_ascii_lowercase()
}
