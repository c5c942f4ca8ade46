//! Google's batch protocol ("Sending Batch Requests"): a `multipart/mixed` body of
//! `application/http` parts, each an HTTP request with a `Content-ID`; the answer is a
//! `multipart/mixed` body of HTTP responses whose `Content-ID` is `response-` followed
//! by the request part's. The embedded requests and part headers are parsed with
//! `httparse` (lenient about bare LF line ends, which Python's email generator writes).

/// Google refuses batches of more than 1000 calls.
pub const MAX_PARTS: usize = 1000;

/// One call of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub content_id: Option<String>,
    pub method: String,
    /// The request target: a path (with query) or an absolute URL.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Part {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The `boundary` parameter of a `multipart/mixed` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

fn trim_line_end(mut s: &[u8]) -> &[u8] {
    if s.ends_with(b"\n") {
        s = &s[..s.len() - 1];
    }
    if s.ends_with(b"\r") {
        s = &s[..s.len() - 1];
    }
    s
}

fn skip_line_end(s: &[u8]) -> &[u8] {
    let s = s.strip_prefix(b"\r").unwrap_or(s);
    s.strip_prefix(b"\n").unwrap_or(s)
}

/// Splits a multipart body into its parts' raw bytes (headers and content).
fn split<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, String> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(i) = find(body, d, at) {
        // A delimiter starts a line.
        if i == 0 || body[i - 1] == b'\n' {
            starts.push(i);
        }
        at = i + d.len();
    }
    if starts.is_empty() {
        return Err(format!("no part delimited by `{delim}`"));
    }
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let after = &body[w[0] + d.len()..w[1]];
        if after.starts_with(b"--") {
            break;
        }
        parts.push(trim_line_end(skip_line_end(after)));
    }
    let last = &body[starts[starts.len() - 1] + d.len()..];
    if !last.starts_with(b"--") {
        return Err(format!("the body does not end with `{delim}--`"));
    }
    Ok(parts)
}

/// Parses a batch request body.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let raw = split(body, boundary)?;
    let mut parts = Vec::with_capacity(raw.len());
    for (n, p) in raw.into_iter().enumerate() {
        let n = n + 1;
        let mut hs = [httparse::EMPTY_HEADER; 32];
        let (offset, mime) = match httparse::parse_headers(p, &mut hs) {
            Ok(httparse::Status::Complete((o, h))) => (o, h),
            _ => return Err(format!("part {n}: unreadable part headers")),
        };
        let mut content_id = None;
        for h in mime.iter() {
            let v = String::from_utf8_lossy(h.value).trim().to_string();
            if h.name.eq_ignore_ascii_case("content-id") {
                content_id = Some(v);
            } else if h.name.eq_ignore_ascii_case("content-type")
                && !v.to_ascii_lowercase().starts_with("application/http")
            {
                return Err(format!(
                    "part {n}: Content-Type is `{v}`, expected application/http"
                ));
            }
        }
        let mut http = p[offset..].to_vec();
        // A request without a body may lack the blank line after its headers.
        if find(&http, b"\n\n", 0).is_none() && find(&http, b"\n\r\n", 0).is_none() {
            http.extend_from_slice(b"\r\n\r\n");
        }
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hs);
        let body_at = match req.parse(&http) {
            Ok(httparse::Status::Complete(o)) => o,
            Ok(httparse::Status::Partial) => {
                return Err(format!("part {n}: incomplete HTTP request"));
            }
            Err(e) => return Err(format!("part {n}: unreadable HTTP request: {e}")),
        };
        parts.push(Part {
            content_id,
            method: req.method.unwrap_or_default().to_string(),
            target: req.path.unwrap_or_default().to_string(),
            headers: req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect(),
            body: http[body_at..].to_vec(),
        });
    }
    Ok(parts)
}

/// The reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// One response part.
pub struct Answer {
    pub content_id: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The response id for a request's `Content-ID` (`<x>` → `<response-x>`).
pub fn response_id(request_id: &str) -> String {
    let inner = request_id
        .trim()
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(request_id.trim());
    format!("<response-{inner}>")
}

/// Writes the multipart/mixed answer with `boundary`.
pub fn write(answers: &[Answer], boundary: &str) -> Vec<u8> {
    let mut out = String::new();
    for a in answers {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\n"
        ));
        if let Some(id) = &a.content_id {
            out.push_str(&format!("Content-ID: {}\r\n", response_id(id)));
        }
        out.push_str(&format!(
            "\r\nHTTP/1.1 {} {}\r\n",
            a.status,
            reason(a.status)
        ));
        for (k, v) in &a.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        match &a.body {
            Some(b) => {
                out.push_str("Content-Type: application/json; charset=UTF-8\r\n");
                out.push_str(&format!("Content-Length: {}\r\n\r\n{b}\r\n", b.len()));
            }
            None => out.push_str("Content-Length: 0\r\n\r\n\r\n"),
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_crlf_and_bare_lf_parts() {
        let body = "--b1\r\nContent-Type: application/http\r\nContent-ID: <x+1>\r\n\r\nGET /admin/directory/v1/users/a%40example.com HTTP/1.1\r\n\r\n\r\n--b1\nContent-Type: application/http\nContent-ID: <x+2>\n\nPOST /admin/directory/v1/groups HTTP/1.1\nContent-Type: application/json\n\n{\"email\":\"g@example.com\"}\n--b1--\n";
        let parts = parse(body.as_bytes(), "b1").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].method, "GET");
        assert_eq!(parts[0].content_id.as_deref(), Some("<x+1>"));
        assert_eq!(parts[1].target, "/admin/directory/v1/groups");
        assert_eq!(parts[1].body, br#"{"email":"g@example.com"}"#);
        assert_eq!(parts[1].header("content-type"), Some("application/json"));
    }

    #[test]
    fn boundary_and_response_ids() {
        assert_eq!(
            boundary("multipart/mixed; boundary=\"===abc==\"").as_deref(),
            Some("===abc==")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(response_id("<a+1>"), "<response-a+1>");
        assert!(parse(b"--b\r\n\r\nGET / HTTP/1.1\r\n\r\n", "b").is_err());
    }
}
