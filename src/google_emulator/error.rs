//! Google's JSON error bodies: the API's
//! `{"error":{"code","message","errors":[{"domain","reason","message"}],"status"}}` and
//! the OAuth token endpoint's `{"error","error_description"}`.

use serde_json::{Value, json};

/// An API error as the Directory API answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub domain: &'static str,
    pub message: String,
    /// Extra response headers (e.g. `Retry-After` on quota errors).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            domain: "global",
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn in_domain(mut self, domain: &'static str) -> ApiError {
        self.domain = domain;
        self
    }

    /// 400 `invalid`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid", message)
    }

    /// 400 `badRequest` "Bad Request".
    pub fn bad_request() -> ApiError {
        ApiError::new(400, "badRequest", "Bad Request")
    }

    /// 404 `notFound` "Resource Not Found: {key}" (`userKey`, `groupKey`, `memberKey`).
    pub fn not_found(key: &str) -> ApiError {
        ApiError::new(404, "notFound", format!("Resource Not Found: {key}"))
    }

    /// 409 `duplicate`.
    pub fn duplicate(message: &str) -> ApiError {
        ApiError::new(409, "duplicate", message)
    }

    /// 412 `conditionNotMet` "Precondition Failed" (a stale `If-Match` etag).
    pub fn precondition_failed() -> ApiError {
        ApiError::new(412, "conditionNotMet", "Precondition Failed")
    }

    /// 401 without credentials.
    pub fn login_required() -> ApiError {
        ApiError::new(
            401,
            "required",
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )
    }

    /// 401 with an unknown or expired token.
    pub fn invalid_credentials() -> ApiError {
        ApiError::new(401, "authError", "Invalid Credentials")
    }

    /// 403 `forbidden`: no domain-wide delegation (`sub`) or a foreign domain/customer.
    pub fn forbidden() -> ApiError {
        ApiError::new(
            403,
            "forbidden",
            "Not Authorized to access this resource/api",
        )
    }

    /// 403 `insufficientPermissions`: the token's scopes do not cover the call.
    pub fn insufficient_scopes() -> ApiError {
        ApiError::new(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(405, "httpMethodNotAllowed", "Method Not Allowed")
    }

    /// The gRPC-style status Google puts next to the HTTP code.
    pub fn status(&self) -> &'static str {
        match self.code {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            405 => "METHOD_NOT_ALLOWED",
            409 => "ALREADY_EXISTS",
            412 => "FAILED_PRECONDITION",
            413 => "OUT_OF_RANGE",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            _ => "UNKNOWN",
        }
    }

    pub fn body(&self) -> Value {
        json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{
                    "message": self.message,
                    "domain": self.domain,
                    "reason": self.reason,
                }],
                "status": self.status(),
            }
        })
    }
}

/// A token-endpoint error (RFC 6749 section 5.2, as Google's endpoint writes it).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: 400,
            error: "invalid_grant",
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: 400,
            error: "invalid_request",
            description: description.into(),
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_googles_shape() {
        let b = ApiError::not_found("userKey").body();
        assert_eq!(b["error"]["code"], 404);
        assert_eq!(b["error"]["message"], "Resource Not Found: userKey");
        assert_eq!(b["error"]["errors"][0]["reason"], "notFound");
        assert_eq!(b["error"]["errors"][0]["domain"], "global");
        assert_eq!(b["error"]["status"], "NOT_FOUND");
    }
}
