//! The stop request of an interrupted apply (the first Ctrl-C): once requested, the
//! apply driver starts no further phase and the HTTP connectors send no further
//! request, while requests already sent run to their answer and are recorded.
//!
//! One flag for the process: `roster apply` is the only writer of a run, and a signal
//! is process-wide by nature. Nothing sets it but the CLI's signal handler.

use std::sync::OnceLock;

use tokio::sync::watch;

fn flag() -> &'static watch::Sender<bool> {
    static FLAG: OnceLock<watch::Sender<bool>> = OnceLock::new();
    FLAG.get_or_init(|| watch::channel(false).0)
}

/// Asks every apply in progress to stop starting new work.
pub fn request() {
    flag().send_replace(true);
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    *flag().borrow()
}

/// Resolves once a stop is requested (at once when it was already).
pub async fn wait() {
    let mut rx = flag().subscribe();
    let _ = rx.wait_for(|stop| *stop).await;
}
