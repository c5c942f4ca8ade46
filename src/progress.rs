//! Progress display for long reads and applies: indicatif bars on a terminal, nothing
//! at all otherwise (pipes, CI logs) or with `--quiet`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar or spinner on stderr, or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Its place in [`DRAWN`].
    id: u64,
}

/// The bars and spinners drawn now, with their own messages: where [`waiting`] says
/// what a request waits for.
static DRAWN: Mutex<Vec<(u64, ProgressBar, String)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn drawn() -> std::sync::MutexGuard<'static, Vec<(u64, ProgressBar, String)>> {
    DRAWN.lock().unwrap_or_else(|p| p.into_inner())
}

fn register(bar: ProgressBar, message: String) -> Progress {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    drawn().push((id, bar.clone(), message));
    Progress { bar: Some(bar), id }
}

/// Shows on the progress line drawn last what the work waits for now (a retry of a
/// throttled request…), after its own message; nothing when no line is drawn.
pub fn waiting(note: &str) {
    if let Some((_, bar, message)) = drawn().last() {
        bar.set_message(format!("{message} · {note}"));
    }
}

/// Back to the progress lines' own messages once the wait is over.
pub fn waiting_over() {
    for (_, bar, message) in drawn().iter() {
        bar.set_message(message.clone());
    }
}

/// Whether progress may be drawn: stderr is a terminal and the user did not ask for quiet.
pub fn enabled(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

impl Progress {
    /// A spinner with a message, e.g. while reading an app.
    pub fn spinner(message: String, enabled: bool) -> Progress {
        if !enabled {
            return Progress { bar: None, id: 0 };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        register(bar, message)
    }

    /// A bar over `total` items with count, rate and ETA.
    pub fn bar(total: u64, message: String, enabled: bool) -> Progress {
        if !enabled || total == 0 {
            return Progress { bar: None, id: 0 };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, ETA {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.clone());
        // Redrawn while nothing advances (a long wait), so the wait shows.
        bar.enable_steady_tick(Duration::from_millis(500));
        register(bar, message)
    }

    pub fn inc(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Prints a line above the bar (or plainly when there is none) on stdout.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| crate::output::line(line)),
            None => crate::output::line(line),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
            drawn().retain(|(id, ..)| *id != self.id);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_shows_on_the_line_drawn_last_and_goes_away() {
        let bar = ProgressBar::hidden();
        let p = register(bar.clone(), "applying".into());
        waiting("retrying POST /$batch in 2.0 s (HTTP 429, attempt 2 of 100)");
        assert_eq!(
            bar.message(),
            "applying · retrying POST /$batch in 2.0 s (HTTP 429, attempt 2 of 100)"
        );
        waiting_over();
        assert_eq!(bar.message(), "applying");
        p.finish();
        assert!(drawn().iter().all(|(id, ..)| *id != p.id));
    }
}
