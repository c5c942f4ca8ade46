//! Unit tests of the loader: conversion, cross-object checks, hostile input, Git
//! sources, and the key lists kept in step with the generated schema.

use std::collections::BTreeSet;

use super::source::{Content, SourceFile};
use super::*;

fn file(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: path.into(),
        content: Content::Bytes(text.as_bytes().to_vec()),
    }
}

fn load_one(text: &str) -> Loaded {
    load_files(&[file("f.yaml", text)])
}

fn rendered(l: &Loaded) -> Vec<String> {
    l.diagnostics.iter().map(|d| d.to_string()).collect()
}

const BASE: &str = "\
apps:
  - name: o365
    type: office365
    sandbox: .roster/t.json
    authorized_domains: [example.com]
users:
  - username: alice
    email: alice@example.com
    first_name: Alice
    last_name: Smith
  - username: bob
    email: bob@example.com
    first_name: Bob
    last_name: Jones
groups:
  - name: staff
    members: [alice, group:team]
  - name: team
    members: [bob]
memberships:
  - group: team
    users: [alice]
    expires: 2030-01-01
policies:
  - name: p
    app: o365
    groups: [staff]
";

#[test]
fn valid_repo_converts_to_the_model() {
    let l = load_one(BASE);
    assert!(l.diagnostics.is_empty(), "{:?}", rendered(&l));
    assert_eq!(l.state.users.len(), 2);
    assert_eq!(l.state.users[0].username, "alice");
    assert!(l.state.users[0].enabled);
    assert_eq!(l.state.groups[0].members, ["alice", "group:team"]);
    assert_eq!(
        l.state.memberships[0].expires.as_deref(),
        Some("2030-01-01")
    );
    let App::Office365(app) = &l.state.apps[0] else {
        panic!("office365 app expected")
    };
    assert_eq!(app.sandbox.as_deref(), Some(".roster/t.json"));
    assert!(!app.switches.delete_users && app.switches.create_users);
    // Positions parallel to the state.
    assert_eq!(l.sources.users[1].field("email").line, 12);
    assert_eq!(l.sources.groups[0].item("members", 1).col, 22);
    assert_eq!(&*l.sources.groups[0].item("members", 1).file, "f.yaml");
    // Absent keys fall back to the object's start.
    assert_eq!(
        l.sources.users[1].field("department"),
        l.sources.users[1].at()
    );
}

#[test]
fn loader_agrees_with_serde_on_valid_input() {
    // The hand-written conversion and the serde derive must read valid files the same.
    let l = load_one(BASE);
    let via_serde: RepoFile = serde_yaml::from_str(BASE).unwrap();
    assert_eq!(l.state.apps, via_serde.apps);
    assert_eq!(l.state.users, via_serde.users);
    assert_eq!(l.state.groups, via_serde.groups);
    assert_eq!(l.state.memberships, via_serde.memberships);
    assert_eq!(l.state.policies, via_serde.policies);
}

#[test]
fn examples_match_serde_too() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    let files = source::read_worktree(&dir).unwrap();
    let l = load_files(&files);
    assert!(!l.has_errors(), "{:?}", rendered(&l));
    let mut users = Vec::new();
    for f in &files {
        let Content::Bytes(b) = &f.content else {
            panic!()
        };
        let r: RepoFile = serde_yaml::from_slice(b).unwrap();
        users.extend(r.users);
    }
    assert_eq!(l.state.users, users);
}

#[test]
fn files_merge_in_path_order() {
    let l = load_files(&[
        file(
            "a.yaml",
            "users:\n  - {username: x, email: x@e.com, first_name: X, last_name: Y}\n",
        ),
        file(
            "b/c.yml",
            "users:\n  - {username: y, email: y@e.com, first_name: X, last_name: Y}\n",
        ),
    ]);
    let names: Vec<&str> = l.state.users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["x", "y"]);
    assert_eq!(l.files, ["a.yaml", "b/c.yml"]);
}

#[test]
fn duplicates_name_both_locations() {
    let l = load_files(&[
        file("a.yaml", "groups:\n  - name: g\n"),
        file("b.yaml", "groups:\n  - name: G\n"),
    ]);
    assert_eq!(
        rendered(&l),
        ["b.yaml:2:11: error: duplicate group name `G`: already defined at a.yaml:2:11 as `g`"]
    );
}

#[test]
fn cycle_names_the_cycle() {
    let l = load_one(
        "groups:\n  - {name: a, members: [group:b]}\n  - {name: b, members: [group:a]}\n  - {name: c, members: [group:c]}\n",
    );
    let msgs = rendered(&l);
    assert!(
        msgs.contains(&"f.yaml:2:25: error: membership cycle: a -> b -> a".to_string()),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&"f.yaml:4:25: error: membership cycle: c -> c".to_string()),
        "{msgs:?}"
    );
    assert_eq!(msgs.len(), 2);
}

#[test]
fn cycle_through_membership_entries() {
    let l = load_one(
        "groups:\n  - {name: a, members: [group:b]}\n  - {name: b}\nmemberships:\n  - {group: b, users: [group:a]}\n",
    );
    assert!(
        rendered(&l)[0].contains("membership cycle: a -> b -> a"),
        "{:?}",
        rendered(&l)
    );
}

#[test]
fn literal_secret_is_not_echoed() {
    let l = load_one(
        "users:\n  - {username: x, email: x@e.com, first_name: X, last_name: Y, password: S3cr3tValue}\n",
    );
    let msgs = rendered(&l);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("secret reference"));
    assert!(!msgs[0].contains("S3cr3tValue"));
}

#[test]
fn secret_reference_shapes() {
    let l = load_one(
        "apps:\n  - name: ad\n    type: active_directory\n    url: ldaps://dc:636\n    base_dn: DC=x,DC=y\n    users_ou: OU=U,DC=x,DC=y\n    groups_ou: OU=G,DC=x,DC=y\n    bind_dn: CN=a,DC=x,DC=y\n    bind_password: {env: A, file: b}\n",
    );
    assert!(
        rendered(&l)[0].contains("exactly one of `env`, `file`"),
        "{:?}",
        rendered(&l)
    );
    let l = load_one(
        "apps:\n  - name: ad\n    type: active_directory\n    url: ldaps://dc:636\n    base_dn: DC=x,DC=y\n    users_ou: OU=U,DC=x,DC=y\n    groups_ou: OU=G,DC=x,DC=y\n    bind_dn: CN=a,DC=x,DC=y\n    bind_password: {evn: A}\n",
    );
    assert!(
        rendered(&l)[0].contains("did you mean `env`?"),
        "{:?}",
        rendered(&l)
    );
}

#[test]
fn app_type_rules() {
    let l = load_one(
        "apps:\n  - {name: a, type: ldapp}\n  - {name: b, type: office365, sandbox: s.json, base_dn: x}\n  - {name: c}\n",
    );
    let msgs = rendered(&l);
    assert!(
        msgs[0].contains("unknown app type `ldapp`")
            && msgs[0].contains("did you mean `ldap`?")
            && msgs[0].contains("office365, active_directory, scim, ldap"),
        "{msgs:?}"
    );
    assert!(
        msgs[1]
            .contains("`base_dn` is a key of active_directory and ldap apps, not valid on app `b`"),
        "{msgs:?}"
    );
    assert!(
        msgs[2].contains("missing the required key `type`"),
        "{msgs:?}"
    );
    // An app with an unknown type still counts as defined for policies.
    let l = load_one(
        "apps:\n  - {name: a, type: ldapp}\npolicies:\n  - {name: p, app: a, groups: []}\n",
    );
    assert_eq!(l.diagnostics.len(), 1, "{:?}", rendered(&l));
}

#[test]
fn office365_needs_credentials_or_sandbox() {
    let l = load_one("apps:\n  - {name: a, type: office365, tenant: t.onmicrosoft.com}\n");
    let msgs = rendered(&l);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("needs `client_id` and `credentials` (or `sandbox: PATH`"));
}

#[test]
fn wrong_types_and_missing_fields() {
    let l = load_one(
        "users:\n  - username: x\n    email: [a]\n    first_name: X\n    enabled: maybe\n",
    );
    let msgs = rendered(&l);
    assert_eq!(
        msgs,
        [
            "f.yaml:2:5: error: user `x` is missing the required key `last_name`",
            "f.yaml:3:12: error: `email` of user `x` must be a string, found a list",
            "f.yaml:5:14: error: `enabled` of user `x` must be true or false, found a string",
        ]
    );
}

#[test]
fn dangling_references() {
    let l = load_one(
        "groups:\n  - {name: g, members: [alicee, group:nope, g2]}\n  - {name: g2}\nusers:\n  - {username: alice, email: a@e.com, first_name: A, last_name: B}\nmemberships:\n  - {group: gg, users: [alice]}\npolicies:\n  - {name: p, app: none, groups: [g, x]}\n",
    );
    let msgs = rendered(&l);
    assert_eq!(msgs.len(), 6, "{msgs:?}");
    assert!(msgs[0].contains("member `alicee` is not a defined user (did you mean `alice`?)"));
    assert!(msgs[1].contains("`group:nope` is not a defined group"));
    assert!(msgs[2].contains("write `group:g2`"));
    assert!(msgs[3].contains("group `gg`, which is not defined (did you mean `g`?)"));
    assert!(msgs[4].contains("app `none`"));
    assert!(msgs[5].contains("group `x`"));
}

#[test]
fn domain_warning_only_for_bound_users_outside_domains() {
    let l = load_one(&BASE.replace("bob@example.com", "bob@other.org"));
    let msgs = rendered(&l);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].starts_with(
        "f.yaml:12:12: warning: user `bob` is bound to app `o365` through group `staff`"
    ));
    assert!(!l.has_errors());
}

#[test]
fn hostile_files_are_named_clearly() {
    let l = load_files(&[
        SourceFile {
            path: "bin.yaml".into(),
            content: Content::Bytes(vec![b'a', b':', 0, 1, 2]),
        },
        SourceFile {
            path: "latin1.yaml".into(),
            content: Content::Bytes(b"users:\n  - username: j\xe9r\xf4me\n".to_vec()),
        },
        SourceFile {
            path: "huge.yaml".into(),
            content: Content::TooLarge(1 << 30),
        },
    ]);
    let msgs = rendered(&l);
    assert_eq!(msgs.len(), 3);
    assert!(msgs[0].starts_with("bin.yaml:1:3: error: binary file"));
    assert!(msgs[1].starts_with("huge.yaml:1:1: error: file is 1073741824 bytes"));
    assert!(msgs[2].starts_with("latin1.yaml:2:16: error: file is not valid UTF-8"));
}

#[test]
fn not_a_mapping_and_bad_sections() {
    let l = load_one("- a\n- b\n");
    assert!(rendered(&l)[0].contains("must be a mapping"));
    let l = load_one("users: {a: 1}\ngroups: [x]\nuser: []\n");
    let msgs = rendered(&l);
    assert!(msgs[0].contains("`users` must be a list"), "{msgs:?}");
    assert!(
        msgs[1].contains("each entry of `groups` must be a mapping"),
        "{msgs:?}"
    );
    assert!(
        msgs[2].contains("unknown top-level key `user` (did you mean `users`?)"),
        "{msgs:?}"
    );
}

#[test]
fn diagnostics_are_sorted_across_files() {
    let l = load_files(&[
        file("b.yaml", "users:\n  - {username: x}\n"),
        file("a.yaml", "groups:\n  - {name: g, oops: 1}\n"),
    ]);
    let files: Vec<&str> = l.diagnostics.iter().map(|d| d.file.as_str()).collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
}

fn schema_keys(v: &serde_json::Value) -> BTreeSet<String> {
    v["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|s| s.to_string()).collect()
}

#[test]
fn key_lists_match_the_schema() {
    use super::convert::*;
    let s = json_schema();
    let defs = &s["$defs"];
    assert_eq!(schema_keys(&s), set(FILE_KEYS));
    assert_eq!(schema_keys(&defs["User"]), set(USER_KEYS));
    assert_eq!(schema_keys(&defs["Group"]), set(GROUP_KEYS));
    assert_eq!(schema_keys(&defs["Membership"]), set(MEMBERSHIP_KEYS));
    assert_eq!(schema_keys(&defs["Policy"]), set(POLICY_KEYS));
    assert_eq!(schema_keys(&defs["Switches"]), set(SWITCH_KEYS));
    assert_eq!(schema_keys(&defs["TlsSettings"]), set(TLS_KEYS));
    assert_eq!(
        schema_keys(&defs["CertificateCredentials"]),
        set(CERTIFICATE_KEYS)
    );
    let variants = defs["App"]["oneOf"].as_array().unwrap();
    let mut seen = BTreeSet::new();
    for v in variants {
        let ty = v["properties"]["type"]["const"]
            .as_str()
            .unwrap()
            .to_string();
        let expected = match ty.as_str() {
            "office365" => OFFICE365_KEYS,
            "active_directory" => ACTIVE_DIRECTORY_KEYS,
            "scim" => SCIM_KEYS,
            "ldap" => LDAP_KEYS,
            "google_workspace" => GOOGLE_WORKSPACE_KEYS,
            other => panic!("unexpected app type {other}"),
        };
        assert_eq!(schema_keys(v), set(expected), "{ty}");
        seen.insert(ty);
    }
    assert_eq!(seen, set(APP_TYPES));
    assert_eq!(schema_keys(&defs["LdapPosix"]), set(LDAP_POSIX_KEYS));
    assert_eq!(schema_keys(&defs["LdapDisabled"]), set(LDAP_DISABLED_KEYS));
    let creds: BTreeSet<String> = defs["Office365Credentials"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| schema_keys(v).into_iter())
        .collect();
    assert_eq!(creds, set(CREDENTIAL_KEYS));
}

fn git(dir: &std::path::Path, files: &[(&str, &str)], msg: &str) -> String {
    let repo = git2::Repository::open(dir).unwrap_or_else(|_| git2::Repository::init(dir).unwrap());
    for (p, text) in files {
        let full = dir.join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &parents)
        .unwrap()
        .to_string()
}

#[test]
fn git_revisions_and_dirty_state() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c1 = git(d, &[("ids/g.yaml", "groups:\n  - name: one\n")], "one");
    let c2 = git(d, &[("ids/g.yaml", "groups:\n  - name: two\n")], "two");
    let sub = d.join("ids");

    let l = load(&sub, None).unwrap();
    assert_eq!(l.state.source.commit.as_deref(), Some(c2.as_str()));
    assert!(!l.state.source.dirty);

    let old = load(&sub, Some("HEAD~1")).unwrap();
    assert_eq!(old.state.groups[0].name, "one");
    assert_eq!(old.state.source.commit.as_deref(), Some(c1.as_str()));

    std::fs::write(sub.join("new.yml"), "groups:\n  - name: three\n").unwrap();
    let l = load(&sub, None).unwrap();
    assert!(l.state.source.dirty);
    assert_eq!(l.state.groups.len(), 2);
    // A non-YAML file does not make the desired state dirty.
    std::fs::remove_file(sub.join("new.yml")).unwrap();
    std::fs::write(sub.join("notes.txt"), "x").unwrap();
    assert!(!load(&sub, None).unwrap().state.source.dirty);
    // A changed YAML file does; restoring it makes the state clean again.
    std::fs::write(sub.join("g.yaml"), "groups:\n  - name: changed\n").unwrap();
    assert!(load(&sub, None).unwrap().state.source.dirty);
    std::fs::write(sub.join("g.yaml"), "groups:\n  - name: two\n").unwrap();
    assert!(!load(&sub, None).unwrap().state.source.dirty);

    let err = load(&sub, Some("no-such-rev")).unwrap_err().to_string();
    assert!(err.contains("no-such-rev"), "{err}");
}

#[test]
fn ref_outside_a_repository_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path(), Some("HEAD")).unwrap_err().to_string();
    assert!(err.contains("Git repository"), "{err}");
    let l = load(dir.path(), None).unwrap();
    assert_eq!(l.state.source, SourceInfo::default());
}

#[test]
fn yaml_written_by_serde_reads_back_identically() {
    // `import` and other writers serialize the model with serde_yaml; the loader must
    // read that output back to the same state (secret references included).
    let l = load_one(BASE);
    let mut users = l.state.users.clone();
    users[0].password = Some(SecretRef::Env("ALICE_PW".into()));
    let repo = RepoFile {
        apps: l.state.apps.clone(),
        users,
        groups: l.state.groups.clone(),
        memberships: l.state.memberships.clone(),
        policies: l.state.policies.clone(),
    };
    let text = serde_yaml::to_string(&repo).unwrap();
    assert!(text.contains("env: ALICE_PW"), "{text}");
    let back = load_one(&text);
    assert!(back.diagnostics.is_empty(), "{:?}\n{text}", rendered(&back));
    assert_eq!(back.state.users, repo.users);
    assert_eq!(back.state.apps, repo.apps);
    let via_serde: RepoFile = serde_yaml::from_str(&text).unwrap();
    assert_eq!(via_serde, repo);
}

#[test]
fn repeated_members_warn_and_prefixed_policy_groups_fail() {
    let l = load_one(
        "apps:\n  - {name: a, type: office365, sandbox: s.json}\ngroups:\n  - {name: g, members: [group:h, group:h]}\n  - {name: h}\npolicies:\n  - {name: p, app: a, groups: [group:g]}\n",
    );
    assert_eq!(
        rendered(&l),
        [
            "f.yaml:4:34: warning: `group:h` is listed twice in `members` of group `g`",
            "f.yaml:7:32: error: policy `p` lists `group:g`: policy groups are plain group names; write `g`",
        ]
    );
}

#[test]
fn problems_per_file_are_capped() {
    let mut text = String::from(
        "users:\n  - username: x\n    email: x@example.com\n    first_name: X\n    last_name: Y\n",
    );
    for i in 0..5000 {
        text.push_str(&format!("    unknown_{i}: 1\n"));
    }
    let l = load_one(&text);
    assert_eq!(l.diagnostics.len(), MAX_DIAGNOSTICS_PER_FILE + 1);
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.message.contains("4500 more problems"))
    );
}

#[test]
fn duplicate_yaml_keys_do_not_hide_other_problems() {
    let l = load_one(
        "users:\n  - username: x\n    username: y\n    email: bad\n    first_name: X\n    last_name: Y\n    colour: red\n",
    );
    assert_eq!(
        rendered(&l),
        [
            "f.yaml:3:5: error: duplicate key `username` (first at line 2, column 5); this entry is ignored",
            "f.yaml:4:12: error: invalid email address `bad` for user `x`",
            "f.yaml:7:5: error: unknown key `colour` in user `x` (valid keys: username, email, first_name, last_name, display_name, enabled, department, job_title, employee_id, usage_location, mobile_phone, licenses, password, immutable_id, attributes, manager, previous_usernames, start_date, end_date)",
        ]
    );
}

#[test]
fn long_values_are_clipped_in_messages() {
    let long = "x".repeat(100_000);
    let l = load_one(&format!(
        "users:\n  - {{username: u, email: {long}, first_name: A, last_name: B}}\n"
    ));
    assert_eq!(l.diagnostics.len(), 1);
    assert!(l.diagnostics[0].message.len() < 500);
    assert!(l.diagnostics[0].message.ends_with('…'));
}

#[test]
fn ldap_apps_load_their_schema_choices() {
    let l = load_one(
        "apps:\n  - name: dir\n    type: ldap\n    url: ldaps://ldap.example.test\n    base_dn: dc=example,dc=test\n    users_ou: ou=people,dc=example,dc=test\n    groups_ou: ou=groups,dc=example,dc=test\n    bind_dn: cn=admin,dc=example,dc=test\n    bind_password: {env: PW}\n    user_object_classes: [top, person, organizationalPerson, inetOrgPerson, posixAccount]\n    user_rdn: cn\n    group_object_class: groupOfUniqueNames\n    posix: {uid_number_start: 10000, gid_number: 100, home_directory: '/home/{username}', login_shell: /bin/sh}\n    disabled: {attribute: nsAccountLock, value: 'TRUE'}\n    attribute_map: {roomNumber: '{attributes.room}', title: null}\n",
    );
    assert!(l.diagnostics.is_empty(), "{:?}", rendered(&l));
    let Some(App::Ldap(a)) = l.state.apps.first() else {
        panic!("an ldap app: {:?}", l.state.apps);
    };
    assert_eq!(a.user_rdn.as_deref(), Some("cn"));
    assert_eq!(
        a.group_object_class,
        Some(LdapGroupClass::GroupOfUniqueNames)
    );
    assert_eq!(a.posix.as_ref().map(|p| p.uid_number_start), Some(10000));
    assert_eq!(
        a.disabled.as_ref().map(|d| d.attribute.as_str()),
        Some("nsAccountLock")
    );
    assert_eq!(a.user_object_classes.len(), 5);
    let m = crate::mapping::Mapping::of(&App::Ldap(a.clone())).unwrap();
    assert_eq!(m.login_target, "uid");
    assert!(m.field("job_title").is_none(), "title: null unmanages it");
    assert!(m.field("roomNumber").is_some());

    let l = load_one(
        "apps:\n  - name: dir\n    type: ldap\n    url: ldap://ldap.example.test\n    base_dn: dc=example,dc=test\n    users_ou: ou=people,dc=example,dc=test\n    groups_ou: ou=groups,dc=example,dc=test\n    bind_dn: cn=admin,dc=example,dc=test\n    bind_password: {env: PW}\n    group_object_class: posixGroup\n    user_rdn: 'bad rdn'\n    attribute_map: {sAMAccountName: x}\n",
    );
    let msgs = rendered(&l);
    assert!(
        msgs.iter()
            .any(|m| m.contains("posixGroup") && m.contains("needs `posix")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("`user_rdn`")), "{msgs:?}");
    assert!(
        msgs.iter().any(|m| m.contains("sAMAccountName")),
        "{msgs:?}"
    );
}

#[test]
fn member_names_are_compact_strings() {
    // One list slot each, with no allocation for a short name.
    assert_eq!(std::mem::size_of::<MemberName>(), 24);
    let short = MemberName::from("alice");
    let long_text = "group:a-group-name-longer-than-22-bytes";
    let long = MemberName::from(long_text.to_string());
    assert_eq!(short.as_str(), "alice");
    assert_eq!(&*long, long_text);
    let edge = "é".repeat(11); // 22 bytes: inline, multi-byte
    assert_eq!(MemberName::from(edge.as_str()).as_str(), edge);
    assert!(short < long);
    assert!(short == "alice");
    assert!("alice" == short);
    assert_eq!(String::from(long.clone()), long_text);
    assert_eq!(format!("{short:?}"), "\"alice\"");
    // Written and read as a plain string.
    let json = serde_json::to_string(&vec![short.clone(), long.clone()]).unwrap();
    assert_eq!(json, format!("[\"alice\",\"{long_text}\"]"));
    let back: Vec<MemberName> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, [short, long]);
    // Lists still load member positions exactly.
    let loaded = load_files(&[file(
        "g.yaml",
        "users:\n  - {username: ann, email: ann@example.com, first_name: A, last_name: B}\ngroups:\n  - name: g\n    members: [ann, nobody]\n",
    )]);
    let e: Vec<String> = loaded.errors().map(|d| d.to_string()).collect();
    assert_eq!(
        e,
        ["g.yaml:5:20: error: group `g`: member `nobody` is not a defined user"]
    );
}
