//! A server in the background: a loopback listener served on a thread and a tokio runtime
//! of its own, so that its caller needs no runtime (and one inside a runtime can start and
//! drop it freely). Dropping it stops the server, closing every connection.
//!
//! Used by `support/sim_http.rs` and the gateway (`gateway/app/mod.rs`).

use std::net::SocketAddr;
use std::thread::JoinHandle;

pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// A running server: its address and the thread serving it.
pub struct Background {
    addr: SocketAddr,
    /// Dropped to stop the server.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Binds `addr` (e.g. `127.0.0.1:0` for a free port) and, on a new thread named
    /// `name`, a runtime with `worker_threads` workers (0: one thread for everything)
    /// calls `serve` with the listener; `serve` spawns its tasks (the server, anything
    /// beside it) and returns. Returns once the server accepts connections.
    pub fn start(
        name: &str,
        addr: &str,
        worker_threads: usize,
        serve: impl FnOnce(tokio::net::TcpListener) + Send + 'static,
    ) -> Result<Self, StartError> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = match worker_threads {
                    0 => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build(),
                    n => tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(n)
                        .enable_all()
                        .build(),
                };
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            serve(listener);
                            let _ = ready.send(Ok(()));
                            // Until `Background` is dropped.
                            let _ = stopped.await;
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                        }
                    }
                });
                // Dropping the runtime ends the server and every connection.
            })?;
        is_ready
            .recv()
            .map_err(|_| format!("the {name} thread stopped while starting"))??;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks the calling thread until the server stops (it never does on its own).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Background {
    /// Stops the server, closing every connection, and waits for its thread.
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
