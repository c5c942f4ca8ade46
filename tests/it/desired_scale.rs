//! Loading a large generated repository: prints the figures (files, objects, time,
//! throughput) and checks the result, never the time. The size is moderate so the
//! test suite stays quick; `ROSTER_SCALE_USERS` raises it for a real measurement
//! (e.g. 100000 with `--release`).

use std::fmt::Write as _;
use std::time::Instant;

use roster::desired::source::{Content, SourceFile};

fn generate(users: usize) -> Vec<SourceFile> {
    let groups = (users / 5).max(1);
    let members_per_group = 50;
    let mut files = Vec::new();
    let chunk = 10_000;
    for (f, start) in (0..users).step_by(chunk).enumerate() {
        let mut t = String::from("users:\n");
        for i in start..(start + chunk).min(users) {
            let _ = write!(
                t,
                "  - username: u{i}\n    email: u{i}@example.com\n    first_name: First{i}\n    last_name: Last{i}\n    department: D{}\n    licenses: [ENTERPRISEPACK]\n",
                i % 50
            );
        }
        files.push((format!("users/{f:03}.yaml"), t));
    }
    let mut t = String::from("groups:\n");
    for g in 0..groups {
        let _ = writeln!(t, "  - name: g{g}");
    }
    files.push(("groups.yaml".into(), t));
    let mut t = String::from("memberships:\n");
    let mut x: u64 = 1;
    for g in 0..groups {
        let mut list = Vec::with_capacity(members_per_group);
        for _ in 0..members_per_group {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            list.push(format!("u{}", (x >> 33) as usize % users));
        }
        list.sort();
        list.dedup();
        let _ = writeln!(t, "  - group: g{g}\n    users: [{}]", list.join(", "));
    }
    files.push(("memberships.yaml".into(), t));
    let policy_groups: Vec<String> = (0..groups).step_by(10).map(|g| format!("g{g}")).collect();
    files.push((
        "apps.yaml".into(),
        format!(
            "apps:\n  - name: o\n    type: office365\n    sandbox: s.json\n    authorized_domains: [example.com]\npolicies:\n  - name: p\n    app: o\n    groups: [{}]\n",
            policy_groups.join(", ")
        ),
    ));
    files.sort();
    files
        .into_iter()
        .map(|(path, text)| SourceFile {
            path,
            content: Content::Bytes(text.into_bytes()),
        })
        .collect()
}

#[test]
fn load_a_large_repository() {
    let users: usize = std::env::var("ROSTER_SCALE_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let files = generate(users);
    let bytes: usize = files
        .iter()
        .map(|f| match &f.content {
            Content::Bytes(b) => b.len(),
            Content::TooLarge(_) => 0,
        })
        .sum();
    let start = Instant::now();
    let loaded = roster::desired::load_files(&files);
    let elapsed = start.elapsed();
    let members: usize = loaded.state.memberships.iter().map(|m| m.users.len()).sum();
    println!(
        "loaded {} files ({:.1} MiB): {} users, {} groups, {} memberships in {:.2?} ({:.1} MiB/s, {:.0} users/s)",
        files.len(),
        bytes as f64 / 1048576.0,
        loaded.state.users.len(),
        loaded.state.groups.len(),
        members,
        elapsed,
        bytes as f64 / 1048576.0 / elapsed.as_secs_f64(),
        users as f64 / elapsed.as_secs_f64()
    );
    assert!(
        loaded.diagnostics.is_empty(),
        "{:?}",
        loaded.diagnostics.first()
    );
    assert_eq!(loaded.state.users.len(), users);
    assert_eq!(loaded.sources.users.len(), users);
    assert!(members > users * 9);
}
