//! Graph's error responses: the `{"error":{"code","message","innerError"}}` body and the
//! handful of codes and messages the directory endpoints really return, so clients are
//! tested against the same shapes they meet in production.

use serde_json::{Value, json};

/// An error a Graph request ends in: HTTP status, Graph error code and message, and
/// rarely used extras (`details`, response headers such as `Retry-After`) kept boxed so
/// the error stays small on the success path.
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub extra: Option<Box<ErrorExtra>>,
}

/// The less common parts of an error.
#[derive(Debug, Clone, Default)]
pub struct ErrorExtra {
    pub details: Vec<Value>,
    pub headers: Vec<(String, String)>,
    /// Extra members of `innerError` (the throttling body carries `code`/`status` there).
    pub inner_extra: Vec<(String, Value)>,
}

impl GraphError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    fn extra_mut(&mut self) -> &mut ErrorExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Extra response headers of this error.
    pub fn headers(&self) -> &[(String, String)] {
        self.extra
            .as_ref()
            .map(|e| e.headers.as_slice())
            .unwrap_or(&[])
    }

    pub fn with_detail(mut self, code: &str, target: &str) -> Self {
        self.extra_mut()
            .details
            .push(json!({ "code": code, "message": "", "target": target }));
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.extra_mut()
            .headers
            .push((name.to_string(), value.into()));
        self
    }

    /// `400 Request_BadRequest` with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        GraphError::new(400, "Request_BadRequest", message)
    }

    /// `400 BadRequest`: what the OData layer answers for malformed URLs and payloads.
    pub fn odata_bad_request(message: impl Into<String>) -> Self {
        GraphError::new(400, "BadRequest", message)
    }

    /// `400 Request_UnsupportedQuery`.
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        GraphError::new(400, "Request_UnsupportedQuery", message)
    }

    /// `404 Request_ResourceNotFound` for a directory object id (or UPN).
    pub fn not_found(id: &str) -> Self {
        GraphError::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// `400 BadRequest` for a URL segment that names no resource.
    pub fn segment_not_found(segment: &str) -> Self {
        GraphError::odata_bad_request(format!("Resource not found for the segment '{segment}'."))
    }

    pub fn method_not_allowed() -> Self {
        GraphError::new(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }

    pub fn invalid_json() -> Self {
        GraphError::odata_bad_request(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }

    pub fn invalid_object_id(id: &str) -> Self {
        GraphError::bad_request(format!("Invalid object identifier '{id}'."))
    }

    pub fn unknown_property(prop: &str, entity: &str) -> Self {
        GraphError::odata_bad_request(format!(
            "The property '{prop}' does not exist on type 'microsoft.graph.{entity}'. Make sure to only use property names that are defined by the type or mark the type as open type."
        ))
    }

    pub fn invalid_value(prop: &str, resource: &str) -> Self {
        GraphError::bad_request(format!(
            "Invalid value specified for property '{prop}' of resource '{resource}'."
        ))
        .with_detail("InvalidValue", prop)
    }

    pub fn conflict_property(prop: &str) -> Self {
        let msg = format!("Another object with the same value for property {prop} already exists.");
        let mut e = GraphError::bad_request(msg.clone());
        e.extra_mut()
            .details
            .push(json!({ "code": "ObjectConflict", "message": msg, "target": prop }));
        e
    }

    /// A uniqueness conflict naming the object that holds the value, as Graph answers
    /// it: `ObjectConflict` on the property and `ConflictingObjects` whose target is
    /// `User_<id>` / `Group_<id>` (the shape Microsoft's ADSyncTools documentation and
    /// microsoft-graph-docs-contrib issue #8421 show).
    pub fn conflict_with(prop: &str, target: &str) -> Self {
        let msg = format!("Another object with the same value for property {prop} already exists.");
        let mut e = GraphError::conflict_property(prop);
        e.extra_mut()
            .details
            .push(json!({ "code": "ConflictingObjects", "message": msg, "target": target }));
        e
    }

    /// `403 Authorization_RequestDenied`: what Graph answers when the app's permissions
    /// (or the target's protection) forbid the operation.
    pub fn forbidden() -> Self {
        GraphError::new(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub fn unauthorized(message: &str) -> Self {
        GraphError::new(401, "InvalidAuthenticationToken", message).with_header(
            "WWW-Authenticate",
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        )
    }

    /// The documented throttling response (429, `TooManyRequests`, fractional Retry-After).
    pub fn throttled(retry_after_secs: f64) -> Self {
        let ra = format_retry_after(retry_after_secs);
        let mut e = GraphError::new(429, "TooManyRequests", "Please retry again later.")
            .with_header("Retry-After", ra);
        let x = e.extra_mut();
        x.inner_extra.push(("code".into(), json!("429")));
        x.inner_extra
            .push(("message".into(), json!("Please retry after")));
        x.inner_extra.push(("status".into(), json!("429")));
        e
    }

    /// Serialize the body with the request ids of the exchange it answers.
    pub fn body(&self, request_id: &str, client_request_id: &str, date: &str) -> Value {
        let mut inner = serde_json::Map::new();
        inner.insert("date".into(), json!(date));
        inner.insert("request-id".into(), json!(request_id));
        inner.insert("client-request-id".into(), json!(client_request_id));
        if let Some(x) = &self.extra {
            for (k, v) in &x.inner_extra {
                inner.insert(k.clone(), v.clone());
            }
        }
        let mut err = serde_json::Map::new();
        err.insert("code".into(), json!(self.code));
        err.insert("message".into(), json!(self.message));
        if let Some(x) = self.extra.as_ref().filter(|x| !x.details.is_empty()) {
            err.insert("details".into(), Value::Array(x.details.clone()));
        }
        err.insert("innerError".into(), Value::Object(inner));
        json!({ "error": Value::Object(err) })
    }
}

/// Retry-After as Graph writes it: seconds, fractional when not whole (e.g. `2.128`).
pub fn format_retry_after(secs: f64) -> String {
    let secs = if secs.is_finite() {
        secs.max(0.001)
    } else {
        1.0
    };
    // Rounded up to the millisecond: a client that waits exactly the advice is admitted.
    let secs = ((secs * 1000.0 - 1e-6).ceil() / 1000.0).max(0.001);
    let s = format!("{secs:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Graph's timestamp format for `innerError.date` (UTC, no fraction, no offset).
pub fn graph_date(now: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    now.format(&f).unwrap_or_default()
}

/// ISO 8601 `Edm.DateTimeOffset` as Graph returns it, e.g. `2024-01-02T03:04:05Z`.
pub fn iso_now(now: time::OffsetDateTime) -> String {
    format!("{}Z", graph_date(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_fractional_when_needed() {
        assert_eq!(format_retry_after(2.0), "2");
        assert_eq!(format_retry_after(2.128), "2.128");
        assert_eq!(format_retry_after(0.5), "0.5");
        assert_eq!(format_retry_after(10.0 / 3.0), "3.334");
        assert_eq!(format_retry_after(f64::NAN), "1");
    }

    #[test]
    fn body_carries_request_ids() {
        let e = GraphError::not_found("x");
        let b = e.body("rid", "crid", "2024-01-01T00:00:00");
        assert_eq!(b["error"]["code"], "Request_ResourceNotFound");
        assert_eq!(b["error"]["innerError"]["request-id"], "rid");
        assert_eq!(b["error"]["innerError"]["client-request-id"], "crid");
    }
}
