//! CLI polish: exit codes (usage errors 1, 2 only for changes or drift), help text on
//! every option, completion scripts and man pages generated from the clap definitions,
//! and `roster show` for saved plan files.

use std::path::Path;
use std::process::{Command as Process, Stdio};

use clap::CommandFactory;

use crate::support::{Run, roster};

const PLAN_KEY: (&str, &str) = (
    "ROSTER_PLAN_KEY",
    "k3y-for-tests-0123456789abcdef-0123456789",
);

/// Exit code, stdout and stderr in one text, the version replaced so that a release
/// does not change the snapshots.
fn transcript(run: &Run) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
    .replace(env!("CARGO_PKG_VERSION"), "VERSION")
}

#[test]
fn exit_codes_and_messages_of_usage_errors_help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("usage_unknown_flag", &["drift", "--no-such-flag"][..]),
        ("usage_bad_value", &["plan", "--format", "nope"]),
        ("version", &["--version"]),
        ("help", &["--help"]),
        ("plan_help", &["plan", "--help"]),
    ] {
        let run = roster(dir.path(), args, &[]);
        let usage_error = name.starts_with("usage_");
        assert_eq!(run.code, if usage_error { 1 } else { 0 }, "{args:?}");
        // Errors on stderr only, help and version on stdout only.
        assert_eq!(run.stdout.is_empty(), usage_error, "{args:?}");
        assert_eq!(run.stderr.is_empty(), !usage_error, "{args:?}");
        insta::assert_snapshot!(name, transcript(&run));
    }
}

#[test]
fn a_missing_argument_or_unknown_command_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["show"][..],
        &["completions"],
        &["plna"],
        &["completions", "tcsh"],
    ] {
        let run = roster(dir.path(), args, &[]);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}

fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
    let path = format!("{path} {}", cmd.get_name()).trim().to_owned();
    if cmd.get_about().is_none() {
        missing.push(format!("{path}: no description"));
    }
    let examples = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    if !examples.contains("EXAMPLES:\n  roster ") {
        missing.push(format!("{path}: no EXAMPLES section"));
    }
    for arg in cmd.get_arguments() {
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        if help.trim().is_empty() {
            missing.push(format!("{path}: {} has no help text", arg.get_id()));
        }
    }
    // clap's own `help` command only names the others.
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        walk(sub, &path, missing);
    }
}

#[test]
fn every_option_and_positional_of_every_command_has_help_and_every_command_examples() {
    let mut cmd = roster::cli::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "", &mut missing);
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    // The walk did see the commands and their arguments.
    let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
    for name in ["plan", "apply", "drift", "show", "completions", "man"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let show = cmd.find_subcommand("show").unwrap();
    assert!(show.get_arguments().any(|a| a.get_id() == "plan_file"));
}

fn subcommands() -> Vec<String> {
    roster::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect()
}

#[test]
fn completions_for_every_shell_name_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let bash = roster(dir.path(), &["completions", "bash"], &[]);
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    assert!(bash.stdout.contains("_roster()"), "{}", bash.stdout);
    assert!(bash.stdout.contains("complete -F _roster"));
    for sub in subcommands() {
        assert!(
            bash.stdout.contains(&format!("roster__subcmd__{sub})")),
            "{sub}"
        );
    }
    assert!(
        bash.stdout.contains("human json markdown"),
        "value completions"
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let run = roster(dir.path(), &["completions", shell], &[]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for sub in ["plan", "drift", "show", "completions"] {
            assert!(run.stdout.contains(sub), "{shell} lacks {sub}");
        }
    }
}

#[test]
fn man_prints_the_main_page_or_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let run = roster(dir.path(), &["man"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("\n.TH ROSTER 1 "), "{}", run.stdout);
    assert!(run.stdout.contains(".SH SUBCOMMANDS"));
    assert!(run.stdout.contains("EXAMPLES:"));

    let out = dir.path().join("man1");
    let run = roster(dir.path(), &["man", "--out", out.to_str().unwrap()], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.is_empty());
    let mut expected = vec!["roster.1".to_owned()];
    expected.extend(subcommands().iter().map(|s| format!("roster-{s}.1")));
    // A command with subcommands (`hr sync`) has a page for each of them too.
    for c in roster::cli::Cli::command().get_subcommands() {
        for sub in c.get_subcommands() {
            expected.push(format!("roster-{}-{}.1", c.get_name(), sub.get_name()));
        }
    }
    expected.sort();
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, expected);
    let plan = std::fs::read_to_string(out.join("roster-plan.1")).unwrap();
    assert!(plan.contains(".TH ROSTER-PLAN 1"), "{plan}");
    assert!(plan.contains("detailed\\-exitcode"), "{plan}");
}

#[test]
fn generated_text_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["man"][..], &["completions", "zsh"]] {
        let mut child = Process::new(env!("CARGO_BIN_EXE_roster"))
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// The quickstart example (a sandbox tenant, no credentials) in a fresh folder.
fn quickstart() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    for entry in std::fs::read_dir(example).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[test]
fn show_renders_a_saved_plan_as_plan_printed_it_in_each_format() {
    let dir = quickstart();
    let file = dir.path().join("plan.json");
    let file = file.to_str().unwrap();
    for format in ["human", "json", "markdown"] {
        let plan = roster(
            dir.path(),
            &["plan", "--format", format, "--out", file],
            &[],
        );
        assert_eq!(plan.code, 0, "{}", plan.all());
        assert!(plan.stdout.contains("alice"), "{}", plan.stdout);
        let show = roster(dir.path(), &["show", file, "--format", format], &[]);
        assert_eq!(show.code, 0, "{}", show.all());
        assert_eq!(show.stdout, plan.stdout, "{format}");
        assert!(show.stderr.is_empty(), "{}", show.stderr);
    }
    // The default format is human, and show reads nothing live: the tenant file the
    // sandbox keeps can go.
    let _ = std::fs::remove_dir_all(dir.path().join(".roster"));
    let show = roster(dir.path(), &["show", file], &[]);
    assert_eq!(show.code, 0, "{}", show.all());
    assert!(show.stdout.contains("Plan: 6 to create"), "{}", show.stdout);
    assert!(!dir.path().join(".roster").exists());
}

#[test]
fn show_checks_the_signature_as_apply_does() {
    let dir = quickstart();
    let path = dir.path().join("signed.json");
    let file = path.to_str().unwrap();
    let plan = roster(dir.path(), &["plan", "--out", file], &[PLAN_KEY]);
    assert_eq!(plan.code, 0, "{}", plan.all());

    let show = roster(dir.path(), &["show", file], &[PLAN_KEY]);
    assert_eq!(show.code, 0, "{}", show.all());
    assert_eq!(show.stdout, plan.stdout);

    // Without the key it is shown, saying the signature was not checked.
    let show = roster(dir.path(), &["show", file], &[]);
    assert_eq!(show.code, 0, "{}", show.all());
    assert!(
        show.stderr.contains("signature was not checked"),
        "{}",
        show.stderr
    );

    // An edited file is refused and nothing is printed.
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, text.replacen("Alice Smith", "Alice Smyth", 1)).unwrap();
    let show = roster(dir.path(), &["show", edited.to_str().unwrap()], &[PLAN_KEY]);
    assert_eq!(show.code, 1, "{}", show.all());
    assert!(show.stdout.is_empty(), "{}", show.stdout);
    assert!(
        show.stderr.contains("refusing the plan file") && show.stderr.contains("does not match"),
        "{}",
        show.stderr
    );
    assert!(!show.all().contains(PLAN_KEY.1), "the key is never printed");

    // So is an unsigned file while a key is set.
    let unsigned = dir.path().join("unsigned.json");
    let run = roster(
        dir.path(),
        &["plan", "--out", unsigned.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let show = roster(
        dir.path(),
        &["show", unsigned.to_str().unwrap()],
        &[PLAN_KEY],
    );
    assert_eq!(show.code, 1, "{}", show.all());
    assert!(show.stderr.contains("not signed"), "{}", show.stderr);
}

#[test]
fn show_names_a_missing_or_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = roster(dir.path(), &["show", "nope.json"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("cannot read the plan file nope.json"),
        "{}",
        run.stderr
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{ not json").unwrap();
    let run = roster(dir.path(), &["show", broken.to_str().unwrap()], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("is not a usable plan file"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
}
