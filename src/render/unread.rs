//! The "could not be read" section of a partial plan: the apps left out of the plan
//! because their live state could not be read, each with its error and causes. Human
//! and Markdown; JSON carries them as `errors` (see `plan::wire`).

use std::fmt::Write as _;

use super::{BOLD, RED, clean, md, paint};
use crate::observed::ReadFailure;

/// The longest error text shown per app in Markdown (a comment has a length limit).
const MARKDOWN_ERROR_CHARS: usize = 1_000;

/// The human section, to follow the plan; empty when every app was read.
pub fn human(failed: &[ReadFailure], color: bool) -> String {
    let mut out = String::new();
    if failed.is_empty() {
        return out;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        paint(
            color,
            &format!("{BOLD}{RED}"),
            "Could not be read (not planned; the plan above covers only the other apps):"
        )
    );
    for f in failed {
        let _ = writeln!(out, "  {} {}", paint(color, RED, "x"), clean(&f.headline()));
        for c in f.chain.iter().skip(1) {
            let _ = writeln!(out, "      caused by: {}", clean(c));
        }
        for h in &f.hints {
            let _ = writeln!(out, "      hint: {}", clean(h));
        }
    }
    out
}

/// The Markdown section; empty when every app was read.
pub fn markdown(failed: &[ReadFailure]) -> String {
    let mut out = String::new();
    if failed.is_empty() {
        return out;
    }
    let _ = writeln!(out, "#### :x: Could not be read");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**This plan is incomplete**: these apps could not be read and are not planned."
    );
    let _ = writeln!(out);
    for f in failed {
        let mut text = f.message();
        if text.chars().count() > MARKDOWN_ERROR_CHARS {
            text = text.chars().take(MARKDOWN_ERROR_CHARS).collect::<String>() + "…";
        }
        let _ = writeln!(out, "- {}", md(&clean(&text)));
    }
    let _ = writeln!(out);
    out
}

/// The Markdown plan `rendered` with the section inserted right after its title, so
/// that a reviewer sees first that the plan is partial.
pub fn insert_markdown(rendered: String, failed: &[ReadFailure]) -> String {
    let section = markdown(failed);
    if section.is_empty() {
        return rendered;
    }
    match rendered.find("\n\n") {
        Some(i) => {
            let (head, tail) = rendered.split_at(i + 2);
            format!("{head}{section}{tail}")
        }
        None => format!("{rendered}\n{section}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> ReadFailure {
        ReadFailure {
            app: "cloud".into(),
            chain: vec![
                "app cloud: cannot connect".into(),
                "connection refused".into(),
            ],
            hints: vec![],
        }
    }

    #[test]
    fn human_names_the_app_and_each_cause() {
        let text = human(&[failure()], false);
        assert!(text.contains("Could not be read"), "{text}");
        assert!(text.contains("x app cloud: cannot connect\n"), "{text}");
        assert!(text.contains("caused by: connection refused"), "{text}");
        assert!(human(&[], false).is_empty());
    }

    #[test]
    fn markdown_section_follows_the_title() {
        let out = insert_markdown("### roster plan\n\nbody\n".into(), &[failure()]);
        assert!(
            out.starts_with("### roster plan\n\n#### :x: Could not be read"),
            "{out}"
        );
        assert!(out.ends_with("body\n"), "{out}");
        assert!(out.contains("cannot connect: connection refused"), "{out}");
    }
}
