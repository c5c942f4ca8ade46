//! Mistakes surface before any network access, all at once, with their source lines:
//! missing secrets and files of the selected apps (proved with the Graph emulator's
//! request counters), a folder without YAML, a YAML syntax error that does not cascade
//! into other files, and plain logs off a terminal.

use crate::support::{CLIENT_SECRET, Emulator, SECRET_ENV, o365_app, repo, roster};

fn contacted(emu: &Emulator) -> u64 {
    let s = emu.stats();
    s["requests"].as_u64().unwrap() + s["token_requests"].as_u64().unwrap()
}

const PEOPLE: &str = "users:\n  - username: alice\n    email: alice@contoso.com\n    first_name: Alice\n    last_name: Smith\n";

/// The office365 app at the emulator with a CA file that does not exist, and a SCIM app
/// whose token file does not exist.
fn broken_repo(url: &str) -> tempfile::TempDir {
    let apps = format!(
        "{}  - name: hr\n    type: scim\n    url: {url}/scim\n    token: {{ file: secrets/scim-token }}\n",
        o365_app(url, "    tls: { ca_file: certs/missing-ca.pem }\n")
    );
    repo(&[("apps.yaml", &apps), ("people.yaml", PEOPLE)])
}

#[test]
fn plan_names_every_missing_secret_and_file_and_sends_nothing() {
    let emu = Emulator::start(&[]);
    let dir = broken_repo(&emu.url);
    let before = contacted(&emu);
    // ROSTER_TEST_SECRET is not set.
    let run = roster(dir.path(), &["plan"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let err = &run.stderr;
    assert!(
        err.contains("apps.yaml:7:22: error: app o365: client secret (env ROSTER_TEST_SECRET): environment variable ROSTER_TEST_SECRET is not set"),
        "{err}"
    );
    assert!(
        err.contains("apps.yaml:10:21: error: app o365: cannot read tls.ca_file"),
        "{err}"
    );
    assert!(err.contains("certs/missing-ca.pem"), "{err}");
    assert!(
        err.contains("apps.yaml:14:12: error: app hr: bearer token (file secrets/scim-token): cannot read secret file"),
        "{err}"
    );
    // Each with its source line and a caret.
    assert!(
        err.contains(" |     tls: { ca_file: certs/missing-ca.pem }\n"),
        "{err}"
    );
    assert!(
        err.contains("|                     ^^^^^^^^^^^^^^^^^^^^\n"),
        "{err}"
    );
    // A flow mapping is underlined whole.
    assert!(
        err.contains("|            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"),
        "{err}"
    );
    assert!(
        err.contains("3 secret reference(s) or file(s) the selected apps need cannot be used"),
        "{err}"
    );
    assert_eq!(contacted(&emu), before, "roster contacted the emulator");
}

#[test]
fn apply_drift_and_a_selected_app_check_first_too() {
    let emu = Emulator::start(&[]);
    let dir = broken_repo(&emu.url);
    let before = contacted(&emu);
    for args in [
        &["apply", "--auto-approve"][..],
        &["drift"][..],
        &["plan", "--app", "o365"][..],
    ] {
        let run = roster(dir.path(), args, &[SECRET_ENV]);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("missing-ca.pem"),
            "{args:?}: {}",
            run.stderr
        );
        // The secret is set: not reported, and its value never shown.
        assert!(
            !run.stderr.contains("ROSTER_TEST_SECRET is not set"),
            "{}",
            run.stderr
        );
        assert!(!run.all().contains(CLIENT_SECRET), "{}", run.all());
        let names_scim = run.stderr.contains("app hr:");
        assert_eq!(names_scim, args.len() < 3, "{args:?}: {}", run.stderr);
    }
    assert_eq!(contacted(&emu), before, "roster contacted the emulator");
}

#[test]
fn a_folder_without_yaml_is_an_error() {
    let dir = repo(&[("README.md", "not yaml\n")]);
    for cmd in ["validate", "plan", "apply"] {
        let run = roster(dir.path(), &[cmd], &[]);
        assert_eq!(run.code, 1, "{cmd}: {}", run.all());
        assert!(
            run.stderr
                .contains("error: no *.yaml or *.yml files under "),
            "{cmd}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_syntax_error_does_not_cascade_into_other_files() {
    let dir = repo(&[
        (
            "groups.yaml",
            "groups:\n  - name: staff\n    members: [alice]\n",
        ),
        ("people.yaml", "users:\n  - username: alice\n    email: [\n"),
    ]);
    let run = roster(dir.path(), &["validate"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("people.yaml:"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("(checks across files are skipped until this file parses)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("groups.yaml"), "{}", run.stderr);
    assert!(!run.stderr.contains("not a defined user"), "{}", run.stderr);

    // Once it parses, the cross-file checks run again.
    std::fs::write(
        dir.path().join("people.yaml"),
        "users:\n  - username: bob\n    email: bob@contoso.com\n    first_name: Bob\n    last_name: B\n",
    )
    .unwrap();
    let run = roster(dir.path(), &["validate"], &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("groups.yaml:3:"), "{}", run.stderr);
}

#[test]
fn verbose_logs_are_plain_with_color_never() {
    let emu = Emulator::start(&[]);
    let dir = broken_repo(&emu.url);
    let plain = roster(dir.path(), &["-v", "--color", "never", "plan"], &[]);
    assert!(
        plain.stderr.contains("desired state loaded"),
        "{}",
        plain.stderr
    );
    assert!(!plain.stderr.contains('\x1b'), "{:?}", plain.stderr);
    // The same run with colour forced does colour: the switch is what keeps it plain.
    let coloured = roster(dir.path(), &["-v", "--color", "always", "plan"], &[]);
    assert!(coloured.stderr.contains('\x1b'), "{:?}", coloured.stderr);
}
