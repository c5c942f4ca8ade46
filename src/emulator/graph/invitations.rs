//! `POST /invitations`: B2B guests (api/invitation-post.md, resources/invitation.md).

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Ctx, R, Resp, parse_body};
use crate::emulator::error::{GraphError, iso_now};
use crate::emulator::model::{Tenant, User};
use crate::emulator::proxy;
use crate::emulator::roles;

/// The UPN Graph gives an invited guest: the invited address with its `@` replaced by
/// `_`, `#EXT#`, and the tenant's initial domain (`admin_fabrikam.com#EXT#@contoso.
/// onmicrosoft.com`).
pub fn guest_upn(address: &str, initial_domain: &str) -> String {
    format!("{}#EXT#@{initial_domain}", address.replace('@', "_"))
}

/// A new guest user as the invitation API creates it: userType `Guest`, creationType
/// `Invitation`, externalUserState `PendingAcceptance` (resources/user.md), enabled,
/// its mail and otherMails the invited address.
pub fn new_guest(t: &Tenant, id: Uuid, address: &str, display: Option<&str>, now: &str) -> User {
    let local = address.split('@').next().unwrap_or(address);
    let upn = guest_upn(address, &t.initial_domain());
    User {
        id,
        account_enabled: true,
        display_name: display
            .map(str::to_string)
            .unwrap_or_else(|| local.to_string()),
        mail_nickname: format!("{}#EXT#", address.replace('@', "_")),
        user_principal_name: upn,
        mail: Some(address.to_string()),
        other_mails: vec![address.to_string()],
        user_type: Some("Guest".into()),
        creation_type: Some("Invitation".into()),
        external_user_state: Some("PendingAcceptance".into()),
        external_user_state_change_date_time: Some(now.to_string()),
        created_date_time: now.to_string(),
        ..Default::default()
    }
}

fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || "\\\"()<>,;:[]".contains(c))
}

/// `POST /invitations`: 201 and the invitation; the guest user is created (or, for an
/// address an existing guest already holds, invited again: the invitation names that
/// guest).
pub(super) fn invite(t: &mut Tenant, ctx: &mut Ctx<'_>, body: &[u8]) -> R {
    // Permissions: User.Invite.All, User.ReadWrite.All or Directory.ReadWrite.All
    // (api/invitation-post.md, permissions table).
    if !roles::has_any(
        ctx.roles,
        &[
            "User.Invite.All",
            "User.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
    ) {
        return Err(GraphError::forbidden());
    }
    let b = parse_body(body)?;
    for req in ["invitedUserEmailAddress", "inviteRedirectUrl"] {
        if b.get(req).is_none_or(Value::is_null) {
            return Err(GraphError::bad_request(format!(
                "Property '{req}' is required when creating the object."
            )));
        }
    }
    let mut display: Option<String> = None;
    let mut send = false;
    let mut address = String::new();
    let mut redirect = String::new();
    let mut reset = false;
    let mut message_info =
        json!({ "messageLanguage": null, "customizedMessageBody": null, "ccRecipients": [] });
    for (k, v) in &b {
        match k.as_str() {
            "invitedUserEmailAddress" => {
                address = v.as_str().map(str::trim).unwrap_or_default().to_string();
                if !valid_address(&address) {
                    return Err(GraphError::invalid_value(k, "Invitation"));
                }
            }
            "inviteRedirectUrl" => {
                redirect = v.as_str().unwrap_or_default().to_string();
                if url::Url::parse(&redirect).is_err() {
                    return Err(GraphError::invalid_value(k, "Invitation"));
                }
            }
            "invitedUserDisplayName" => match v {
                Value::Null => {}
                Value::String(s) if s.chars().count() <= 256 => display = Some(s.clone()),
                _ => return Err(GraphError::invalid_value(k, "Invitation")),
            },
            "sendInvitationMessage" => {
                send = v
                    .as_bool()
                    .ok_or_else(|| GraphError::invalid_value(k, "Invitation"))?;
            }
            "invitedUserType" => {
                if v.as_str().is_some_and(|s| !s.eq_ignore_ascii_case("Guest")) {
                    // Inviting members needs the caller to be a company administrator
                    // (resources/invitation.md); an app is not one.
                    return Err(GraphError::forbidden());
                }
            }
            "resetRedemption" => {
                reset = v
                    .as_bool()
                    .ok_or_else(|| GraphError::invalid_value(k, "Invitation"))?;
            }
            "invitedUserMessageInfo" => message_info = parse_message_info(v)?,
            k if k.starts_with("@odata.") => {}
            other => return Err(GraphError::unknown_property(other, "invitation")),
        }
    }
    let now = iso_now(ctx.now);
    let candidate = [format!("SMTP:{address}")];
    let existing_guest = t
        .proxy_holder(Uuid::nil(), &candidate)
        .filter(|id| t.users.get(id).is_some_and(User::is_guest));
    let uid = match existing_guest {
        Some(id) => id,
        None => {
            let u = new_guest(t, Uuid::new_v4(), &address, display.as_deref(), &now);
            if let Some(other) = t.user_by_upn(&u.user_principal_name) {
                return Err(proxy::conflict(t, "userPrincipalName", other));
            }
            t.check_proxies(u.id, &proxy::user_proxies(&u))?;
            let id = u.id;
            t.insert_user(u);
            ctx.created.push(id);
            id
        }
    };
    let invitation_id = Uuid::new_v4();
    let ticket = Uuid::new_v4().simple().to_string();
    let redeem = format!(
        "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3ftenant%3d{}%26user%3d{invitation_id}%26ticket%3d{ticket}%26ver%3d2.0",
        t.tenant_id
    );
    let shown = display.or_else(|| t.users.get(&uid).map(|u| u.display_name.clone()));
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{}/v1.0/$metadata#invitations/$entity", ctx.base)),
    );
    m.insert("id".into(), json!(invitation_id.to_string()));
    m.insert("inviteRedeemUrl".into(), json!(redeem));
    m.insert("invitedUserDisplayName".into(), json!(shown));
    m.insert("invitedUserType".into(), json!("Guest"));
    m.insert("invitedUserEmailAddress".into(), json!(address));
    m.insert("sendInvitationMessage".into(), json!(send));
    m.insert("resetRedemption".into(), json!(reset));
    m.insert("inviteRedirectUrl".into(), json!(redirect));
    m.insert("status".into(), json!("PendingAcceptance"));
    m.insert("invitedUserMessageInfo".into(), message_info);
    m.insert("invitedUser".into(), json!({ "id": uid.to_string() }));
    Ok(Resp::json(201, Value::Object(m)).wrote())
}

/// `invitedUserMessageInfo` (resources/invitedusermessageinfo.md: `ccRecipients`
/// recipients, `customizedMessageBody`, `messageLanguage`), echoed in the response as
/// the page's example shows; anything else is 400.
fn parse_message_info(v: &Value) -> Result<Value, GraphError> {
    let bad = || GraphError::invalid_value("invitedUserMessageInfo", "Invitation");
    let mut out =
        json!({ "messageLanguage": null, "customizedMessageBody": null, "ccRecipients": [] });
    let Some(o) = v.as_object() else {
        return if v.is_null() { Ok(out) } else { Err(bad()) };
    };
    for (k, val) in o {
        match (k.as_str(), val) {
            ("messageLanguage" | "customizedMessageBody", Value::String(_) | Value::Null) => {
                out[k.as_str()] = val.clone();
            }
            ("ccRecipients", Value::Array(rs))
                if rs.iter().all(|r| r["emailAddress"]["address"].is_string()) =>
            {
                out["ccRecipients"] = val.clone();
            }
            (k, _) if k.starts_with("@odata.") => {}
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_upns_follow_graphs_pattern() {
        assert_eq!(
            guest_upn("admin@fabrikam.com", "contoso.onmicrosoft.com"),
            "admin_fabrikam.com#EXT#@contoso.onmicrosoft.com"
        );
        assert!(valid_address("a@b.example"));
        assert!(!valid_address("nobody"));
        assert!(!valid_address("a b@c.example"));
    }
}
