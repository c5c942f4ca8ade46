//! The limits the live directories put on the values roster writes there, checked
//! when the repository is loaded, for the users and groups bound to an app of each
//! type. A value the directory would refuse is an error at its position, naming the
//! app, the limit and the actual length; a value roster shortens itself before it
//! writes it (a user's CN in Active Directory, a mail nickname in Office 365) is a
//! warning, since the apply works but the directory holds less than the repository
//! says. A value bound to no app of a type is never held to that type's limits.
//!
//! A user is bound to an app when a policy of the app binds a group that holds the
//! user, directly or through nested groups (expiry dates ignored: the check is about
//! what the files say), unless the app's explicit `authorized_domains` leave out the
//! user's email domain (the user is then not provisioned there, which the domain
//! warning says). A group is bound to an app when a policy of the app names it: only
//! those groups are created in the app. Lengths count characters (Unicode scalar
//! values), of the value as the planner compares it (trimmed).
//!
//! Where every number comes from:
//!
//! - Active Directory, Microsoft's AD schema reference (learn.microsoft.com
//!   `windows/win32/adschema`, the same rangeUpper values as MS-ADA1/MS-ADA3):
//!   - SAM-Account-Name (`a-samaccountname`): "This attribute must be 20 characters or
//!     less to support earlier clients" (rangeUpper 256). roster writes a user's
//!     username there verbatim, so the username is held to 20. A group's
//!     sAMAccountName is roster's own derivation of the name (at most 64 characters:
//!     `apps::active_directory::codec::group_sam_account_name`), within the 256
//!     characters `USER_INFO_0` (`lmaccess.h`) documents for group names, so the
//!     name is held to the cn limit alone: Microsoft's 20 is a rule for logon names.
//!   - Common-Name (`a-cn`): rangeUpper 64. A group's cn is its name, verbatim: an
//!     error. A user's cn is the display name, cut to 64 by roster: a warning.
//! - Office 365, Microsoft Graph v1.0 (microsoft-graph-docs-contrib,
//!   `api-reference/v1.0/resources/user.md` and `group.md`, "Maximum length is N
//!   characters"):
//!   - user: givenName 64, surname 64, displayName 256, department 64, jobTitle 128,
//!     employeeId 16, mobilePhone 64, mailNickname 64 (roster derives it from the
//!     username, keeping ASCII letters, digits and `. - _`, cut to 64: a warning);
//!     usageLocation "A two letter country code (ISO standard 3166)", which every
//!     user's `usage_location` must already be (`convert`).
//!   - userPrincipalName (roster writes the email): "Only the following characters
//!     are allowed `A - Z`, `a - z`, `0 - 9`, `' . - _ ! # ^ ~`" before the `@`; the
//!     username policies the page links to (Microsoft Entra, `concept-sspr-policy`)
//!     allow "up to 64 characters before the @ symbol" and "up to 48 characters after
//!     the @ symbol".
//!   - group: displayName 256 (the name, verbatim: an error); mailNickname 64,
//!     "unique for Microsoft 365 groups in the organization" (derived from the name
//!     like a user's, cut to 64: a warning for Microsoft 365 groups, whose nickname is
//!     their mail address; a security group's is never seen).

use std::collections::HashMap;

use super::check::{diag, direct_refs, transitive_users};
use super::{Diagnostic, Severity, SourceMap};
use crate::desired::model::*;

/// sAMAccountName of a user (Active Directory).
pub const AD_SAM_ACCOUNT_NAME: usize = 20;
/// cn (Active Directory).
pub const AD_CN: usize = 64;
/// givenName, surname, department, mobilePhone, mailNickname (Graph).
pub const GRAPH_64: usize = 64;
/// displayName of users and groups (Graph).
pub const GRAPH_DISPLAY_NAME: usize = 256;
/// jobTitle (Graph).
pub const GRAPH_JOB_TITLE: usize = 128;
/// employeeId (Graph).
pub const GRAPH_EMPLOYEE_ID: usize = 16;
/// userPrincipalName: characters before the `@` (Microsoft Entra).
pub const UPN_LOCAL: usize = 64;
/// userPrincipalName: characters after the `@` (Microsoft Entra).
pub const UPN_DOMAIN: usize = 48;
/// The characters a userPrincipalName may hold before the `@`, besides ASCII letters
/// and digits (Graph's user resource).
pub const UPN_SPECIALS: &str = "'.-_!#^~";

/// The app types with limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ActiveDirectory,
    Office365,
}

impl Kind {
    fn of(app: &App) -> Option<Kind> {
        match app {
            App::ActiveDirectory(_) => Some(Kind::ActiveDirectory),
            App::Office365(_) => Some(Kind::Office365),
            App::Scim(_) => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::ActiveDirectory => "active_directory",
            Kind::Office365 => "office365",
        }
    }
}

/// One value over a limit of one app type, before the app is known: the message is
/// `{before}{type} app `{app}`{after}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    severity: Severity,
    /// The key whose value is reported (the object's start when absent).
    key: &'static str,
    /// The app attribute the value goes to; an app whose `attribute_map` names it
    /// takes the value from a template instead, checked in `mapping_check`.
    target: &'static str,
    before: String,
    after: String,
}

impl Problem {
    fn message(&self, kind: Kind, app: &str) -> String {
        format!("{}{} app `{app}`{}", self.before, kind.name(), self.after)
    }
}

/// A value for a message: whole when short, else its first 32 characters and `…`, so
/// that the limit is never clipped off a long line.
fn shown(v: &str) -> String {
    if v.chars().count() <= 40 {
        v.to_string()
    } else {
        let head: String = v.chars().take(32).collect();
        format!("{head}…")
    }
}

fn chars(v: &str) -> usize {
    v.chars().count()
}

/// `what `value` is N characters; ` … `allows at most L (attr)`, when over.
fn over(
    severity: Severity,
    key: &'static str,
    what: &str,
    value: &str,
    limit: usize,
    attribute: &'static str,
    then: &str,
) -> Option<Problem> {
    let n = chars(value);
    (n > limit).then(|| Problem {
        severity,
        key,
        target: attribute,
        before: format!("{what} `{}` is {n} characters; ", shown(value)),
        after: format!(" allows at most {limit} ({attribute}){then}"),
    })
}

/// The mail nickname roster derives from a name (see
/// `apps::office365::apply::mail_nickname`), uncut: its length.
fn nickname_len(name: &str) -> usize {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .count()
}

/// The display name roster writes, with the key to point at: `display_name` when set,
/// else `first_name` (the default is "first_name last_name").
fn display(user: &User) -> (String, &'static str, &'static str) {
    match &user.display_name {
        Some(d) if !d.trim().is_empty() => (d.trim().to_string(), "display_name", "display name"),
        _ => (
            user.display_name().trim().to_string(),
            "first_name",
            "display name (first_name and last_name)",
        ),
    }
}

/// Everything over a limit of `kind` in one user's values.
fn user_problems(kind: Kind, user: &User) -> Vec<Problem> {
    let mut out = Vec::new();
    let (display_name, display_key, display_what) = display(user);
    match kind {
        Kind::ActiveDirectory => {
            out.extend(over(
                Severity::Error,
                "username",
                "username",
                user.username.trim(),
                AD_SAM_ACCOUNT_NAME,
                "sAMAccountName",
                "",
            ));
            out.extend(over(
                Severity::Warning,
                display_key,
                display_what,
                &display_name,
                AD_CN,
                "cn",
                ": the user's cn is cut to 64 characters (displayName keeps all of it)",
            ));
        }
        Kind::Office365 => {
            let fields: [(&'static str, Option<&str>, usize, &'static str); 6] = [
                (
                    "first_name",
                    Some(user.first_name.as_str()),
                    GRAPH_64,
                    "givenName",
                ),
                (
                    "last_name",
                    Some(user.last_name.as_str()),
                    GRAPH_64,
                    "surname",
                ),
                (
                    "department",
                    user.department.as_deref(),
                    GRAPH_64,
                    "department",
                ),
                (
                    "job_title",
                    user.job_title.as_deref(),
                    GRAPH_JOB_TITLE,
                    "jobTitle",
                ),
                (
                    "employee_id",
                    user.employee_id.as_deref(),
                    GRAPH_EMPLOYEE_ID,
                    "employeeId",
                ),
                (
                    "mobile_phone",
                    user.mobile_phone.as_deref(),
                    GRAPH_64,
                    "mobilePhone",
                ),
            ];
            for (key, value, limit, attribute) in fields {
                if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
                    out.extend(over(Severity::Error, key, key, v, limit, attribute, ""));
                }
            }
            out.extend(over(
                Severity::Error,
                display_key,
                display_what,
                &display_name,
                GRAPH_DISPLAY_NAME,
                "displayName",
                "",
            ));
            out.extend(upn_problem(user.email.trim()));
            let n = nickname_len(&user.username);
            if n > GRAPH_64 {
                out.push(Problem {
                    severity: Severity::Warning,
                    key: "username",
                    target: "mailNickname",
                    before: format!(
                        "username `{}` makes a mail nickname of {n} characters; ",
                        shown(&user.username)
                    ),
                    after: format!(
                        " allows at most {GRAPH_64} (mailNickname): the user's mailNickname is cut to {GRAPH_64} characters"
                    ),
                });
            }
        }
    }
    out
}

/// The email as a userPrincipalName: characters and lengths. An invalid email is
/// already an error of its own and is left alone.
fn upn_problem(email: &str) -> Option<Problem> {
    if !super::valid_email(email) {
        return None;
    }
    let (local, domain) = email.rsplit_once('@')?;
    let problem = |what: String, limit: String| Problem {
        severity: Severity::Error,
        key: "email",
        target: "userPrincipalName",
        before: format!(
            "email `{}` cannot be a userPrincipalName: {what}; ",
            shown(email)
        ),
        after: format!(" allows {limit} (userPrincipalName)"),
    };
    if let Some(c) = local
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !UPN_SPECIALS.contains(*c))
    {
        return Some(problem(
            format!("it holds {c:?} before the @"),
            format!("only letters A-Z and a-z, digits 0-9 and {UPN_SPECIALS} there"),
        ));
    }
    let n = chars(local);
    if n > UPN_LOCAL {
        return Some(problem(
            format!("{n} characters before the @"),
            format!("at most {UPN_LOCAL}"),
        ));
    }
    let n = chars(domain);
    if n > UPN_DOMAIN {
        return Some(problem(
            format!("{n} characters after the @"),
            format!("at most {UPN_DOMAIN}"),
        ));
    }
    None
}

/// Everything over a limit of `kind` in one group's values.
fn group_problems(kind: Kind, group: &Group) -> Vec<Problem> {
    let name = group.name.trim();
    match kind {
        Kind::ActiveDirectory => over(Severity::Error, "name", "group name", name, AD_CN, "cn", "")
            .into_iter()
            .collect(),
        Kind::Office365 => {
            let mut out: Vec<Problem> = over(
                Severity::Error,
                "name",
                "group name",
                name,
                GRAPH_DISPLAY_NAME,
                "displayName",
                "",
            )
            .into_iter()
            .collect();
            let n = nickname_len(name);
            if group.kind == Some(GroupKind::Microsoft365) && n > GRAPH_64 {
                out.push(Problem {
                    severity: Severity::Warning,
                    key: "name",
                    target: "mailNickname",
                    before: format!(
                        "Microsoft 365 group name `{}` makes a mail nickname of {n} characters; ",
                        shown(name)
                    ),
                    after: format!(
                        " allows at most {GRAPH_64} (mailNickname): the group's mailNickname (its mail address) is cut to {GRAPH_64} characters"
                    ),
                });
            }
            out
        }
    }
}

/// Whether `app` provisions a user with this email: no explicit authorized domains,
/// or the email's domain among them.
fn provisions(app: &App, user: &User) -> bool {
    match (app.authorized_domains(), user.email_domain()) {
        (None, _) => true,
        (Some(allowed), Some(d)) => allowed.iter().any(|a| a.trim().eq_ignore_ascii_case(&d)),
        (Some(_), None) => false,
    }
}

/// Check every value bound to an app of a type with limits.
pub(super) fn check(state: &DesiredState, locs: &SourceMap, out: &mut Vec<Diagnostic>) {
    let mut direct = None;
    for kind in [Kind::ActiveDirectory, Kind::Office365] {
        // The policies of apps of this kind, in repository order.
        let policies: Vec<(&App, &Policy)> = state
            .policies
            .iter()
            .filter_map(|p| state.app(&p.app).map(|a| (a, p)))
            .filter(|(a, _)| Kind::of(a) == Some(kind))
            .collect();
        if policies.is_empty() {
            continue;
        }
        let bound_groups = |p: &'_ Policy| -> Vec<String> {
            let mut gs: Vec<String> = p
                .groups
                .iter()
                .map(|g| g.strip_prefix("group:").unwrap_or(g).to_string())
                .collect();
            gs.sort();
            gs
        };

        // Groups: the first app (in policy order) that binds each one.
        let mut group_app: HashMap<String, &str> = HashMap::new();
        for (app, p) in &policies {
            for g in bound_groups(p) {
                group_app.entry(g).or_insert(app.name());
            }
        }
        for (g, l) in state.groups.iter().zip(&locs.groups) {
            let Some(app) = group_app.get(g.name.as_str()) else {
                continue;
            };
            for p in group_problems(kind, g) {
                out.push(diag(l.field(p.key), p.severity, p.message(kind, app)));
            }
        }

        // Users: only those with a value over a limit need their bindings, which
        // keeps the walk through the groups off the common path.
        let problems: Vec<(usize, Vec<Problem>)> = state
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (i, user_problems(kind, u)))
            .filter(|(_, ps)| !ps.is_empty())
            .collect();
        if problems.is_empty() {
            continue;
        }
        let wanted: HashMap<&str, usize> = problems
            .iter()
            .map(|(i, _)| (state.users[*i].username.as_str(), *i))
            .collect();
        let direct = direct.get_or_insert_with(|| direct_refs(state));
        let mut user_app: HashMap<usize, &str> = HashMap::new();
        for (app, p) in &policies {
            for g in bound_groups(p) {
                for u in transitive_users(direct, &g) {
                    let Some(&i) = wanted.get(u) else { continue };
                    if !user_app.contains_key(&i) && provisions(app, &state.users[i]) {
                        user_app.insert(i, app.name());
                    }
                }
            }
        }
        for (i, ps) in problems {
            let (Some(app), Some(l)) = (user_app.get(&i), locs.users.get(i)) else {
                continue;
            };
            let mapped = state.app(app).map(|a| a.attribute_map());
            for p in ps {
                if mapped.is_some_and(|m| m.contains_key(p.target)) {
                    continue;
                }
                out.push(diag(l.field(p.key), p.severity, p.message(kind, app)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: &str, email: &str) -> User {
        User {
            attributes: Default::default(),
            manager: Default::default(),
            previous_usernames: Default::default(),
            start_date: None,
            end_date: None,
            username: username.into(),
            email: email.into(),
            first_name: "Ann".into(),
            last_name: "Lee".into(),
            display_name: None,
            enabled: true,
            department: None,
            job_title: None,
            employee_id: None,
            usage_location: None,
            mobile_phone: None,
            licenses: Vec::new(),
            password: None,
            immutable_id: None,
        }
    }

    fn messages(ps: &[Problem], kind: Kind) -> Vec<String> {
        ps.iter().map(|p| p.message(kind, "a")).collect()
    }

    #[test]
    fn active_directory_limits() {
        let ok = user(&"u".repeat(20), "u@example.com");
        assert!(user_problems(Kind::ActiveDirectory, &ok).is_empty());
        let long = user(&"u".repeat(21), "u@example.com");
        assert_eq!(
            messages(
                &user_problems(Kind::ActiveDirectory, &long),
                Kind::ActiveDirectory
            ),
            [
                "username `uuuuuuuuuuuuuuuuuuuuu` is 21 characters; active_directory app `a` allows at most 20 (sAMAccountName)"
            ]
        );
        // Characters, not bytes.
        let accents = user(&"é".repeat(20), "u@example.com");
        assert!(user_problems(Kind::ActiveDirectory, &accents).is_empty());
        let mut wide = user("ann", "u@example.com");
        wide.display_name = Some("d".repeat(65));
        let ps = user_problems(Kind::ActiveDirectory, &wide);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].severity, Severity::Warning);
        assert_eq!(ps[0].key, "display_name");
        assert!(ps[0].before.contains("is 65 characters"), "{ps:?}");
        let g = Group {
            name: "g".repeat(65),
            description: None,
            members: Vec::new(),
            kind: None,
            membership: None,
        };
        let ps = group_problems(Kind::ActiveDirectory, &g);
        assert_eq!(ps.len(), 1);
        assert!(
            ps[0]
                .message(Kind::ActiveDirectory, "corp")
                .ends_with("is 65 characters; active_directory app `corp` allows at most 64 (cn)"),
            "{ps:?}"
        );
        assert!(
            group_problems(
                Kind::ActiveDirectory,
                &Group {
                    name: "g".repeat(64),
                    ..g
                }
            )
            .is_empty()
        );
    }

    #[test]
    fn office365_limits() {
        let mut u = user("ann", "ann@example.com");
        assert!(user_problems(Kind::Office365, &u).is_empty());
        u.employee_id = Some("1".repeat(17));
        u.job_title = Some("t".repeat(128));
        u.department = Some("d".repeat(65));
        u.first_name = "f".repeat(65);
        let ps = user_problems(Kind::Office365, &u);
        let keys: Vec<&str> = ps.iter().map(|p| p.key).collect();
        assert_eq!(keys, ["first_name", "department", "employee_id"]);
        assert!(
            messages(&ps, Kind::Office365)[2]
                .ends_with("is 17 characters; office365 app `a` allows at most 16 (employeeId)")
        );
        // The default display name is first + last: 65 + 1 + 3 characters fit 256.
        u.first_name = "f".repeat(255);
        let ps = user_problems(Kind::Office365, &u);
        assert!(
            ps.iter()
                .any(|p| p.key == "first_name" && p.after.contains("(displayName)")),
            "{ps:?}"
        );
        // A long value is shortened in the message, never the limit.
        assert!(
            ps.iter()
                .all(|p| p.message(Kind::Office365, "a").len() < 300)
        );
    }

    #[test]
    fn user_principal_names() {
        assert!(upn_problem("ann.lee_x-y'z!#^~@example.com").is_none());
        let p = upn_problem("ann+news@example.com").expect("plus");
        assert!(
            p.message(Kind::Office365, "o")
                .contains("it holds '+' before the @"),
            "{p:?}"
        );
        assert!(upn_problem(&format!("{}@example.com", "a".repeat(64))).is_none());
        // valid_email already refuses more than 64 before the @; more than 48 after it
        // is Entra's own limit.
        assert!(upn_problem(&format!("{}@example.com", "a".repeat(65))).is_none());
        let domain = format!("{}.example.com", "d".repeat(40));
        let p = upn_problem(&format!("a@{domain}")).expect("long domain");
        assert!(p.before.contains("52 characters after the @"), "{p:?}");
        assert!(upn_problem("not an email").is_none());
    }

    #[test]
    fn mail_nicknames_are_warnings() {
        let u = user(&"n".repeat(65), "n@example.com");
        let ps = user_problems(Kind::Office365, &u);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].severity, Severity::Warning);
        // Characters roster leaves out of a nickname do not count.
        let u = user(
            &format!("{}{}", "n".repeat(60), "ä".repeat(10)),
            "n@example.com",
        );
        assert!(user_problems(Kind::Office365, &u).is_empty());
        let mut g = Group {
            name: "m".repeat(65),
            description: None,
            members: Vec::new(),
            kind: None,
            membership: None,
        };
        assert!(group_problems(Kind::Office365, &g).is_empty());
        g.kind = Some(GroupKind::Microsoft365);
        let ps = group_problems(Kind::Office365, &g);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].severity, Severity::Warning);
    }

    fn load(text: &str) -> Vec<String> {
        let files = [crate::desired::source::SourceFile {
            path: "r.yaml".into(),
            content: crate::desired::source::Content::Bytes(text.as_bytes().to_vec()),
        }];
        crate::desired::load_files(&files)
            .diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    const AD: &str = "apps:\n  - name: corp\n    type: active_directory\n    url: ldaps://dc1.corp.example\n    base_dn: DC=corp,DC=example\n    users_ou: OU=U,DC=corp,DC=example\n    groups_ou: OU=G,DC=corp,DC=example\n    bind_dn: CN=svc,DC=corp,DC=example\n    bind_password: { env: AD_PW }\n";

    #[test]
    fn nested_members_are_bound_and_unprovisioned_ones_are_not() {
        let users = "users:\n  - {username: abcdefghijklmnopqrstu, email: a@example.com, first_name: A, last_name: B}\n";
        let nested = format!(
            "{AD}{users}groups:\n  - {{name: outer, members: [group:inner]}}\n  - {{name: inner, members: [abcdefghijklmnopqrstu]}}\npolicies:\n  - {{name: p, app: corp, groups: [outer]}}\n"
        );
        let d = load(&nested);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("r.yaml:11:16: error: username"), "{d:?}");
        // Outside the app's authorized domains the user is not provisioned: the
        // domain warning says so, and the limit does not apply.
        let elsewhere = nested.replace(
            "bind_password: { env: AD_PW }\n",
            "bind_password: { env: AD_PW }\n    authorized_domains: [other.example]\n",
        );
        let d = load(&elsewhere);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].contains("warning: user `abcdefghijklmnopqrstu` is bound"),
            "{d:?}"
        );
        // Bound to no app: nothing.
        let unbound = nested.replace("groups: [outer]", "groups: []");
        assert!(load(&unbound).iter().all(|d| !d.contains("sAMAccountName")));
        // A templated sAMAccountName is checked as templated (here cut to 20), not as
        // the username.
        let truncated = nested.replace(
            "bind_password: { env: AD_PW }\n",
            "bind_password: { env: AD_PW }\n    attribute_map: { sAMAccountName: '{username|truncate:20}' }\n",
        );
        assert_eq!(load(&truncated), Vec::<String>::new());
        let templated_long = truncated.replace("truncate:20", "upper");
        let d = load(&templated_long);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].contains("sAMAccountName `ABCDEFGHIJKLMNOPQRSTU`"),
            "{d:?}"
        );
    }
}
