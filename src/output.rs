//! The one writer for standard output, and the one for messages on standard error.
//!
//! Output is a side channel of roster's work, never a reason to stop it: when nobody
//! reads standard output any more (a pipe to `head`, a CI log collector that went away),
//! writes are dropped from then on and the command carries on, so an apply still ends
//! every change as applied, failed or not attempted, recorded in the report log. Nothing
//! here panics, which `print!`/`println!` do on a closed pipe.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output as it is. After the first failed write (a closed
/// pipe, a full disk behind a redirect) every later write is dropped.
pub fn text(text: &str) {
    write(&[text.as_bytes()]);
}

/// Writes `line` and a newline to standard output (see [`text`]).
pub fn line(line: &str) {
    write(&[line.as_bytes(), b"\n"]);
}

fn write(parts: &[&[u8]]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if parts.iter().any(|p| out.write_all(p).is_err()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes a prompt with no newline and flushes it, so it shows before input is read.
pub fn prompt(text: &str) {
    self::text(text);
    flush();
}

/// Flushes standard output; a failure counts as a closed output.
pub fn flush() {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if std::io::stdout().lock().flush().is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Whether a write to standard output has failed during this run.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes `line` and a newline to standard error. Errors are ignored: there is nowhere
/// left to report them.
pub fn diag(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(line.as_bytes())
        .and_then(|()| err.write_all(b"\n"));
}
