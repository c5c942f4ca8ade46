//! Test support for the active_directory tests: makes sure a Samba AD DC runs (by
//! calling `scripts/samba-dc.sh start`, once per test binary; the script serialises
//! concurrent callers with a lock file), gives each test its own OU subtree, and
//! offers raw LDAP access that does not go through roster's reader.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use roster::apps::{ChangeResult, ConnectContext, OutcomeSink};
use roster::desired::{ActiveDirectoryApp, SecretRef, Switches, TlsSettings};
use roster::plan::{Action, Change, ObjectKind};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// What `scripts/samba-dc.sh start` printed.
#[derive(Debug, Clone)]
pub struct Dc {
    pub url: String,
    pub ldap_url: String,
    pub ca: String,
    pub wrong_ca: String,
    pub bind_dn: String,
    pub password: String,
    pub base_dn: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/samba-dc.sh")
}

/// Start (or reuse) the DC; panics with the script's output when that fails.
pub fn dc() -> &'static Dc {
    static DC: OnceLock<Dc> = OnceLock::new();
    DC.get_or_init(|| {
        let install = Command::new(script())
            .arg("install")
            .output()
            .expect("run samba-dc.sh");
        assert!(
            install.status.success(),
            "samba-dc.sh install failed: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let out = Command::new(script())
            .arg("start")
            .output()
            .expect("run samba-dc.sh");
        assert!(
            out.status.success(),
            "samba-dc.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("samba-dc.sh start did not print {k}: {text}"))
                .to_string()
        };
        Dc {
            url: get("ROSTER_TEST_AD_URL"),
            ldap_url: get("ROSTER_TEST_AD_LDAP_URL"),
            ca: get("ROSTER_TEST_AD_CA"),
            wrong_ca: get("ROSTER_TEST_AD_WRONG_CA"),
            bind_dn: get("ROSTER_TEST_AD_BIND_DN"),
            password: get("ROSTER_TEST_AD_PASSWORD"),
            base_dn: get("ROSTER_TEST_AD_BASE_DN"),
        }
    })
}

fn tls_config(ca: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read CA") {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A raw, administrator-bound LDAPS connection, independent of roster's connector.
pub async fn raw() -> Ldap {
    let dc = dc();
    let settings = LdapConnSettings::new().set_config(tls_config(&dc.ca));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &dc.url)
        .await
        .expect("raw connect");
    ldap3::drive!(conn);
    ldap.simple_bind(&dc.bind_dn, &dc.password)
        .await
        .expect("raw bind")
        .success()
        .expect("raw bind result");
    ldap
}

/// Bind as `dn` with `password` over LDAPS; the result code.
pub async fn try_bind(dn: &str, password: &str) -> u32 {
    let dc = dc();
    let settings = LdapConnSettings::new().set_config(tls_config(&dc.ca));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &dc.url)
        .await
        .expect("raw connect");
    ldap3::drive!(conn);
    let rc = ldap.simple_bind(dn, password).await.expect("bind").rc;
    let _ = ldap.unbind().await;
    rc
}

/// Raw subtree search; entries only.
pub async fn search(ldap: &mut Ldap, base: &str, filter: &str, attrs: &[&str]) -> Vec<SearchEntry> {
    let (entries, res) = ldap
        .search(base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .expect("raw search")
        .success()
        .expect("raw search result");
    let _ = res;
    entries.into_iter().map(SearchEntry::construct).collect()
}

/// Raw base read; None when absent.
pub async fn read(ldap: &mut Ldap, dn: &str, attrs: &[&str]) -> Option<SearchEntry> {
    let ldap3::SearchResult(entries, res) = ldap
        .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
        .await
        .expect("raw read");
    if res.rc == 32 {
        return None;
    }
    assert_eq!(res.rc, 0, "raw read of {dn}: {}", res.text);
    entries.into_iter().next().map(SearchEntry::construct)
}

pub fn attr<'e>(e: &'e SearchEntry, name: &str) -> Option<&'e str> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

pub fn attr_all(e: &SearchEntry, name: &str) -> Vec<String> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The objectGUID as the standard string, decoded independently of roster.
pub fn guid(e: &SearchEntry) -> String {
    let raw: Vec<u8> = e
        .bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("objectGUID"))
        .and_then(|(_, v)| v.first().cloned())
        .or_else(|| attr(e, "objectGUID").map(|s| s.as_bytes().to_vec()))
        .expect("objectGUID");
    let bytes: [u8; 16] = raw.try_into().expect("16 bytes");
    uuid::Uuid::from_bytes_le(bytes).to_string()
}

pub async fn add(ldap: &mut Ldap, dn: &str, attrs: Vec<(&str, Vec<&str>)>) {
    let attrs: Vec<(String, HashSet<String>)> = attrs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
        .collect();
    ldap.add(dn, attrs)
        .await
        .expect("raw add")
        .success()
        .unwrap_or_else(|e| panic!("raw add {dn}: {e}"));
}

pub async fn modify(ldap: &mut Ldap, dn: &str, mods: Vec<ldap3::Mod<String>>) {
    ldap.modify(dn, mods)
        .await
        .expect("raw modify")
        .success()
        .unwrap_or_else(|e| panic!("raw modify {dn}: {e}"));
}

pub async fn delete(ldap: &mut Ldap, dn: &str) {
    ldap.delete(dn)
        .await
        .expect("raw delete")
        .success()
        .unwrap_or_else(|e| panic!("raw delete {dn}: {e}"));
}

/// Rename (`rdn`, e.g. `CN=New`) and/or move (`new_parent`) an entry; its new DN.
pub async fn move_to(ldap: &mut Ldap, dn: &str, rdn: &str, new_parent: Option<&str>) -> String {
    ldap.modifydn(dn, rdn, true, new_parent)
        .await
        .expect("raw modifydn")
        .success()
        .unwrap_or_else(|e| panic!("raw modifydn {dn}: {e}"));
    let parent = match new_parent {
        Some(p) => p.to_string(),
        None => dn
            .split_once(',')
            .map(|(_, p)| p.to_string())
            .expect("dn has a parent"),
    };
    format!("{rdn},{parent}")
}

/// A raw user (disabled, no password) with the given CN and sAMAccountName.
pub async fn add_user(ldap: &mut Ldap, parent: &str, cn: &str, sam: &str) -> String {
    let dn = format!("CN={},{parent}", ldap3::dn_escape(cn));
    add(
        ldap,
        &dn,
        vec![
            (
                "objectClass",
                vec!["top", "person", "organizationalPerson", "user"],
            ),
            ("cn", vec![cn]),
            ("sAMAccountName", vec![sam]),
            ("userAccountControl", vec!["514"]),
        ],
    )
    .await;
    dn
}

/// Set `adminCount` to 1 on `dn`, as AD's SDProp does for members of protected
/// groups (an LDAP modify as Administrator: Samba runs no SDProp of its own).
pub async fn set_admin_count(ldap: &mut Ldap, dn: &str) {
    modify(
        ldap,
        dn,
        vec![ldap3::Mod::Replace(
            "adminCount".to_string(),
            ["1".to_string()].into(),
        )],
    )
    .await;
}

/// A raw user (as [`add_user`]) protected by AdminSDHolder: `adminCount=1`.
pub async fn add_admin_count_user(ldap: &mut Ldap, parent: &str, cn: &str, sam: &str) -> String {
    let dn = add_user(ldap, parent, cn, sam).await;
    set_admin_count(ldap, &dn).await;
    dn
}

/// A child object under a user, as Exchange leaves an `ExchangeActiveSyncDevices`
/// container under a mailbox user in real AD: Samba's schema has no Exchange classes,
/// but accepts a `classStore` beneath a user. Its DN.
pub async fn add_child_of_user(ldap: &mut Ldap, user_dn: &str, cn: &str) -> String {
    let dn = format!("CN={},{user_dn}", ldap3::dn_escape(cn));
    add(
        ldap,
        &dn,
        vec![("objectClass", vec!["top", "classStore"]), ("cn", vec![cn])],
    )
    .await;
    dn
}

/// An enabled account with a password (set through `unicodePwd` over LDAPS), for
/// binding as someone other than Administrator.
pub async fn add_account(
    ldap: &mut Ldap,
    parent: &str,
    cn: &str,
    sam: &str,
    password: &str,
) -> String {
    let dn = format!("CN={},{parent}", ldap3::dn_escape(cn));
    let pwd: Vec<u8> = format!("\"{password}\"")
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
        (
            b"objectClass".to_vec(),
            ["top", "person", "organizationalPerson", "user"]
                .iter()
                .map(|v| v.as_bytes().to_vec())
                .collect(),
        ),
        (b"cn".to_vec(), [cn.as_bytes().to_vec()].into()),
        (b"sAMAccountName".to_vec(), [sam.as_bytes().to_vec()].into()),
        (b"unicodePwd".to_vec(), [pwd].into()),
        (b"userAccountControl".to_vec(), [b"512".to_vec()].into()),
    ];
    ldap.add(&dn, attrs)
        .await
        .expect("raw add")
        .success()
        .unwrap_or_else(|e| panic!("raw add {dn}: {e}"));
    dn
}

/// Access rights of AD ACEs ([MS-ADTS] 5.1.3.2, [MS-DTYP] 2.4.3).
pub mod rights {
    pub const LIST_CHILDREN: u32 = 0x4;
    pub const READ_PROPERTY: u32 = 0x10;
    pub const DELETE_TREE: u32 = 0x40;
    pub const LIST_OBJECT: u32 = 0x80;
    pub const DELETE: u32 = 0x1_0000;
    pub const READ_CONTROL: u32 = 0x2_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
}

/// The binary objectSid of an entry.
pub async fn object_sid(ldap: &mut Ldap, dn: &str) -> Vec<u8> {
    let e = read(ldap, dn, &["objectSid"]).await.expect("entry");
    e.bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("objectSid"))
        .and_then(|(_, v)| v.first().cloned())
        .or_else(|| attr(&e, "objectSid").map(|s| s.as_bytes().to_vec()))
        .expect("objectSid")
}

/// A binary SID plus one relative id (the domain SID and 512: Domain Admins).
pub fn sid_with_rid(sid: &[u8], rid: u32) -> Vec<u8> {
    let mut out = sid.to_vec();
    out[1] += 1;
    out.extend_from_slice(&rid.to_le_bytes());
    out
}

/// A self-relative security descriptor ([MS-DTYP] 2.4.6) owned by `owner` (owner and
/// group) whose DACL allows each (SID, rights) pair, inherited by everything beneath
/// (CONTAINER_INHERIT_ACE).
pub fn security_descriptor(owner: &[u8], aces: &[(&[u8], u32)]) -> Vec<u8> {
    let mut acl_body = Vec::new();
    for (sid, mask) in aces {
        acl_body.push(0x00); // ACCESS_ALLOWED_ACE_TYPE
        acl_body.push(0x02); // CONTAINER_INHERIT_ACE
        acl_body.extend_from_slice(&((8 + sid.len()) as u16).to_le_bytes());
        acl_body.extend_from_slice(&mask.to_le_bytes());
        acl_body.extend_from_slice(sid);
    }
    let mut acl = vec![4, 0]; // ACL_REVISION_DS
    acl.extend_from_slice(&((8 + acl_body.len()) as u16).to_le_bytes());
    acl.extend_from_slice(&(aces.len() as u16).to_le_bytes());
    acl.extend_from_slice(&[0, 0]);
    acl.extend_from_slice(&acl_body);
    let owner_at = 20u32;
    let group_at = owner_at + owner.len() as u32;
    let dacl_at = group_at + owner.len() as u32;
    let mut sd = vec![1, 0];
    sd.extend_from_slice(&0x8004u16.to_le_bytes()); // SELF_RELATIVE | DACL_PRESENT
    for offset in [owner_at, group_at, 0, dacl_at] {
        sd.extend_from_slice(&offset.to_le_bytes());
    }
    sd.extend_from_slice(owner);
    sd.extend_from_slice(owner);
    sd.extend_from_slice(&acl);
    sd
}

/// Replace the DACL of `dn` (as Administrator): Domain Admins and SYSTEM keep full
/// control, and each (SID, rights) pair is allowed, everything inherited beneath.
pub async fn set_dacl(ldap: &mut Ldap, dn: &str, aces: &[(&[u8], u32)]) {
    let domain = object_sid(ldap, &dc().base_dn).await;
    let admins = sid_with_rid(&domain, 512);
    let system: &[u8] = &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
    let mut all: Vec<(&[u8], u32)> = vec![
        (&admins, rights::GENERIC_ALL),
        (system, rights::GENERIC_ALL),
    ];
    all.extend_from_slice(aces);
    let sd = security_descriptor(&admins, &all);
    ldap.modify(
        dn,
        vec![ldap3::Mod::Replace(
            b"nTSecurityDescriptor".to_vec(),
            [sd].into(),
        )],
    )
    .await
    .expect("raw modify")
    .success()
    .unwrap_or_else(|e| panic!("setting the security descriptor of {dn}: {e}"));
}

pub async fn add_group(ldap: &mut Ldap, parent: &str, cn: &str, sam: &str) -> String {
    let dn = format!("CN={},{parent}", ldap3::dn_escape(cn));
    add(
        ldap,
        &dn,
        vec![
            ("objectClass", vec!["top", "group"]),
            ("cn", vec![cn]),
            ("sAMAccountName", vec![sam]),
            ("groupType", vec!["-2147483646"]),
        ],
    )
    .await;
    dn
}

/// A short random token for unique names.
pub fn token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8)
        .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
        .collect()
}

/// One test's private part of the directory: `OU=t-<token>` with `Users` and
/// `Groups` below it, a repository root holding the bind password file, and an app
/// pointing at them.
pub struct Fixture {
    pub token: String,
    pub ou: String,
    pub users_ou: String,
    pub groups_ou: String,
    pub repo: tempfile::TempDir,
    pub app: ActiveDirectoryApp,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let dc = dc();
        let token = token();
        let ou = format!("OU=t-{token},{}", dc.base_dn);
        let users_ou = format!("OU=Users,{ou}");
        let groups_ou = format!("OU=Groups,{ou}");
        let mut ldap = raw().await;
        for dn in [&ou, &users_ou, &groups_ou] {
            add(
                &mut ldap,
                dn,
                vec![("objectClass", vec!["top", "organizationalUnit"])],
            )
            .await;
        }
        let repo = tempfile::tempdir().expect("tempdir");
        std::fs::write(repo.path().join("bind.pw"), &dc.password).expect("write pw");
        let app = ActiveDirectoryApp {
            joiner: None,
            leaver: None,
            attribute_map: Default::default(),
            on_create: Default::default(),
            name: format!("ad-{token}"),
            url: dc.url.clone(),
            base_dn: dc.base_dn.clone(),
            users_ou: users_ou.clone(),
            groups_ou: groups_ou.clone(),
            bind_dn: dc.bind_dn.clone(),
            bind_password: SecretRef::File("bind.pw".into()),
            tls: Some(TlsSettings {
                ca_file: Some(dc.ca.clone()),
                server_name: None,
            }),
            starttls: None,
            authorized_domains: None,
            switches: Switches::default(),
            ignore: Vec::new(),
            max_deletes: None,
        };
        Fixture {
            token,
            ou,
            users_ou,
            groups_ou,
            repo,
            app,
        }
    }

    pub fn ctx(&self) -> ConnectContext {
        ConnectContext {
            repo_root: self.repo.path().to_path_buf(),
            cache_dir: None,
        }
    }

    /// Write a secret file into the repository root.
    pub fn secret_file(&self, name: &str, value: &str) -> SecretRef {
        std::fs::write(self.repo.path().join(name), value).expect("write secret");
        SecretRef::File(name.into())
    }
}

/// A sink that keeps every outcome.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<(Change, ChangeResult)>>);

impl OutcomeSink for Collect {
    fn record(&self, change: &Change, result: &ChangeResult) {
        self.0
            .lock()
            .expect("sink lock")
            .push((change.clone(), result.clone()));
    }
}

impl Collect {
    pub fn results(&self) -> Vec<(Change, ChangeResult)> {
        self.0.lock().expect("sink lock").clone()
    }
    /// Panics naming the first failure.
    pub fn assert_all_applied(&self) {
        for (c, r) in self.results() {
            assert!(
                matches!(r, ChangeResult::Applied { .. }),
                "{:?} {:?} {}: {r:?}",
                c.object(),
                c.action,
                c.key()
            );
        }
    }
}

/// A hand-made change.
pub fn change(app: &str, object: ObjectKind, action: Action, key: &str) -> Change {
    Change {
        app: app.to_string(),
        target: roster::plan::Target::of(object, key).expect("a valid target"),
        action,
        id: None,
        before: None,
        after: None,
        reason: "test".into(),
    }
}

pub fn with_after(mut c: Change, pairs: &[(&str, serde_json::Value)]) -> Change {
    c.after = Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    );
    c
}

pub fn membership(app: &str, action: Action, group: &str, member: &str) -> Change {
    let mut c = change(app, ObjectKind::User, action, group);
    c.target = roster::plan::Target::Membership(roster::plan::MembershipKey {
        group: group.to_string(),
        member: roster::plan::Member::parse(member),
    });
    c
}
