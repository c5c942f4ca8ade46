//! The benches' own token request to the emulator (OAuth 2.0 client credentials), for
//! the scripts that stand beside roster: out-of-band changes, the floors' clients.

/// An access token for `client` in `tenant`, from the token endpoint at `base`.
pub async fn client_credentials(
    http: &reqwest::Client,
    base: &str,
    tenant: &str,
    client: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let token: serde_json::Value = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    token["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no access token in the token response"))
}
