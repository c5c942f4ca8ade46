//! Reading HTTP response bodies the same way in every HTTP connector: bounded in size
//! (a defence against a broken server), transport errors in the connector's words, and
//! short excerpts of bodies for error messages.

use anyhow::{Result, anyhow};

/// Reads `resp`'s body as text (invalid UTF-8 replaced), refusing one larger than
/// `max` bytes; `describe` words a transport error (without secrets).
pub async fn read_text(
    mut resp: reqwest::Response,
    max: usize,
    describe: fn(&reqwest::Error) -> String,
) -> Result<String> {
    if let Some(len) = resp.content_length()
        && len as usize > max
    {
        return Err(anyhow!("response body of {len} bytes is too large"));
    }
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| anyhow!("{}", describe(&e)))?
    {
        if buf.len() + chunk.len() > max {
            return Err(anyhow!("response body larger than {max} bytes"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The first `max` characters of `s`, with `…` when cut.
pub fn excerpt(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_cut_on_characters() {
        assert_eq!(excerpt("abc", 5), "abc");
        assert_eq!(excerpt("ééé", 2), "éé…");
    }
}
