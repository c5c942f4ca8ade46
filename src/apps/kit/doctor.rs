//! `roster doctor`'s vocabulary, shared by the connectors' probes: a check with its
//! status, detail and hint; an app's report; and the pure helpers the probes use for
//! clock skew (an HTTP `Date` header, an LDAP generalized time) and TLS certificate
//! details (subject, issuer, expiry from the peer's DER certificate).

use serde::Serialize;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something deserves attention (a recommended permission missing, a
    /// certificate that expires soon, a small clock skew).
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One check of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `token`, `permission User.ReadWrite.All`, `GET /users`, `tls`, …
    pub check: String,
    pub status: Status,
    /// What was found, one line (never a secret).
    pub detail: String,
    /// What to do about a failure or warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            hint: None,
        }
    }

    pub fn warn(
        check: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Check {
        Check::hinted(Status::Warn, check.into(), detail.into(), hint.into())
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Check {
        Check::hinted(Status::Fail, check.into(), detail.into(), hint.into())
    }

    fn hinted(status: Status, check: String, detail: String, hint: String) -> Check {
        Check {
            check,
            status,
            detail,
            hint: Some(hint),
        }
    }
}

/// What the first answer of an HTTP service tells: its `Date` header (for clock skew)
/// and the TLS session (for the certificate).
#[derive(Debug, Clone)]
pub struct HttpFacts {
    pub date: Option<String>,
    pub tls: Option<reqwest::tls::TlsInfo>,
}

impl HttpFacts {
    /// The facts of `resp` (the client must be built with `tls_info(true)`).
    pub fn of(resp: &reqwest::Response) -> HttpFacts {
        HttpFacts {
            date: resp
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            tls: resp.extensions().get::<reqwest::tls::TlsInfo>().cloned(),
        }
    }
}

/// `host[:port]` of a URL, for check details; the URL itself when it does not parse.
pub fn url_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| url.to_string())
}

/// The `tls` check of an HTTP service: protocol and certificate over https, a warning
/// for plain HTTP.
pub fn http_tls_check(host: &str, https: bool, tls: Option<&reqwest::tls::TlsInfo>) -> Check {
    if !https {
        return Check::warn(
            "tls",
            format!("{host}: plain HTTP (loopback only)"),
            "use https:// outside local tests",
        );
    }
    let version = tls.and_then(|t| t.version()).map(tls_version_name);
    let cert = tls
        .and_then(|t| t.peer_certificate())
        .and_then(|der| cert_info(der, time::OffsetDateTime::now_utc()));
    tls_check(host, version, cert.as_ref())
}

/// Everything `doctor` found about one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppReport {
    pub app: String,
    #[serde(rename = "type")]
    pub app_type: String,
    pub checks: Vec<Check>,
}

impl AppReport {
    pub fn new(app: &str, app_type: &str) -> AppReport {
        AppReport {
            app: app.to_string(),
            app_type: app_type.to_string(),
            checks: Vec::new(),
        }
    }

    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// The worst status of the app's checks (`Ok` when there are none).
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }
}

/// A skew this large (in seconds) is a warning; Kerberos (AD) and token validation
/// (Entra ID accepts 5 minutes) fail beyond 300.
pub const SKEW_WARN_SECS: f64 = 60.0;
pub const SKEW_FAIL_SECS: f64 = 300.0;

/// The clock-skew check: `remote - local` in seconds, from `source` (e.g. "the Date
/// header of GET /organization"). The HTTP date has one-second resolution, so a skew
/// under two seconds is reported as none.
pub fn skew_check(skew_secs: f64, source: &str) -> Check {
    let abs = skew_secs.abs();
    let shown = if abs < 2.0 {
        format!("within 2 s of the local clock ({source})")
    } else {
        let dir = if skew_secs > 0.0 {
            "ahead of"
        } else {
            "behind"
        };
        format!("the server's clock is {abs:.0} s {dir} the local clock ({source})")
    };
    let hint = "synchronise the local clock (NTP); tokens and Kerberos tickets fail beyond 5 minutes of skew";
    if abs >= SKEW_FAIL_SECS {
        Check::fail("clock skew", shown, hint)
    } else if abs >= SKEW_WARN_SECS {
        Check::warn("clock skew", shown, hint)
    } else {
        Check::ok("clock skew", shown)
    }
}

/// `remote - local` in seconds from an HTTP `Date` header value (RFC 9110 IMF-fixdate,
/// or the obsolete forms), `None` when it does not parse.
pub fn http_date_skew(date: &str, local: std::time::SystemTime) -> Option<f64> {
    let remote = httpdate::parse_http_date(date.trim()).ok()?;
    Some(signed_secs(remote, local))
}

/// `remote - local` in seconds from an LDAP GeneralizedTime (`20261203114500.0Z`, as
/// AD's rootDSE `currentTime`), `None` when it does not parse.
pub fn generalized_time_skew(value: &str, local: std::time::SystemTime) -> Option<f64> {
    let v = value.trim();
    let digits = v.split(['.', 'Z', 'z', '+', '-']).next()?;
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().ok();
    let month = time::Month::try_from(n(4..6)? as u8).ok()?;
    let date = time::Date::from_calendar_date(n(0..4)? as i32, month, n(6..8)? as u8).ok()?;
    let t = time::Time::from_hms(n(8..10)? as u8, n(10..12)? as u8, n(12..14)? as u8).ok()?;
    let remote: std::time::SystemTime = time::PrimitiveDateTime::new(date, t).assume_utc().into();
    Some(signed_secs(remote, local))
}

fn signed_secs(remote: std::time::SystemTime, local: std::time::SystemTime) -> f64 {
    match remote.duration_since(local) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// What a peer certificate says, for the TLS check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// `not_after`, RFC 3339.
    pub expires: String,
    /// Whole days from `now` to `not_after` (negative: expired).
    pub days_left: i64,
}

/// Subject, issuer and expiry of a DER certificate.
pub fn cert_info(der: &[u8], now: time::OffsetDateTime) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.to_datetime();
    let expires = not_after
        .format(&time::format_description::well_known::Rfc3339)
        .ok()?;
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        expires,
        days_left: (not_after - now).whole_days(),
    })
}

/// A certificate expiring within this many days is a warning.
pub const CERT_WARN_DAYS: i64 = 21;

/// The TLS check of a connection to `host`: `version` (e.g. "TLSv1.3") when known,
/// the certificate details when the peer's certificate was captured.
pub fn tls_check(host: &str, version: Option<&str>, cert: Option<&CertInfo>) -> Check {
    let mut detail = format!("{host}: {}", version.unwrap_or("TLS"));
    match cert {
        Some(c) => {
            detail.push_str(&format!(
                ", certificate {} issued by {}, expires {} ({} days)",
                c.subject, c.issuer, c.expires, c.days_left
            ));
            if c.days_left < 0 {
                return Check::fail(
                    "tls",
                    detail,
                    "the server's certificate has expired: renew it",
                );
            }
            if c.days_left < CERT_WARN_DAYS {
                return Check::warn(
                    "tls",
                    detail,
                    "the server's certificate expires soon: renew it",
                );
            }
            Check::ok("tls", detail)
        }
        None => Check::ok("tls", detail),
    }
}

/// The TLS version as printed.
pub fn tls_version_name(v: reqwest::tls::Version) -> &'static str {
    match v {
        reqwest::tls::Version::TLS_1_0 => "TLSv1.0",
        reqwest::tls::Version::TLS_1_1 => "TLSv1.1",
        reqwest::tls::Version::TLS_1_2 => "TLSv1.2",
        reqwest::tls::Version::TLS_1_3 => "TLSv1.3",
        _ => "TLS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn http_dates_give_the_signed_skew() {
        // Thu, 03 Dec 2026 12:00:00 GMT
        let remote = UNIX_EPOCH + Duration::from_secs(1_796_299_200);
        let date = httpdate::fmt_http_date(remote);
        let local = remote - Duration::from_secs(90);
        assert_eq!(http_date_skew(&date, local), Some(90.0));
        let local = remote + Duration::from_secs(400);
        assert_eq!(http_date_skew(&date, local), Some(-400.0));
        assert_eq!(http_date_skew("yesterday", local), None);
    }

    #[test]
    fn generalized_times_give_the_signed_skew() {
        let remote = UNIX_EPOCH + Duration::from_secs(1_796_299_200);
        assert_eq!(
            generalized_time_skew("20261203120000.0Z", remote + Duration::from_secs(30)),
            Some(-30.0)
        );
        assert_eq!(generalized_time_skew("20261203120010Z", remote), Some(10.0));
        assert_eq!(generalized_time_skew("2026-12-03", remote), None);
        assert_eq!(generalized_time_skew("20261303120000.0Z", remote), None);
    }

    #[test]
    fn skew_thresholds() {
        assert_eq!(skew_check(1.0, "x").status, Status::Ok);
        assert_eq!(skew_check(-59.0, "x").status, Status::Ok);
        assert_eq!(skew_check(-61.0, "x").status, Status::Warn);
        let c = skew_check(301.0, "the Date header");
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("301 s ahead of"), "{}", c.detail);
        assert!(c.hint.unwrap().contains("NTP"));
        let _ = SystemTime::now();
    }

    #[test]
    fn certificate_expiry_drives_the_tls_status() {
        let c = |days_left| CertInfo {
            subject: "CN=graph".into(),
            issuer: "CN=ca".into(),
            expires: "2027-01-01T00:00:00Z".into(),
            days_left,
        };
        assert_eq!(
            tls_check("h", Some("TLSv1.3"), Some(&c(200))).status,
            Status::Ok
        );
        assert_eq!(tls_check("h", None, Some(&c(3))).status, Status::Warn);
        let expired = tls_check("h", Some("TLSv1.2"), Some(&c(-1)));
        assert_eq!(expired.status, Status::Fail);
        assert!(expired.detail.contains("TLSv1.2"));
        assert!(expired.detail.contains("CN=graph issued by CN=ca"));
    }

    #[test]
    fn the_worst_check_is_the_app_status() {
        let mut r = AppReport::new("a", "scim");
        assert_eq!(r.status(), Status::Ok);
        r.push(Check::ok("x", "y"));
        r.push(Check::warn("x", "y", "z"));
        assert_eq!(r.status(), Status::Warn);
        r.push(Check::fail("x", "y", "z"));
        assert_eq!(r.status(), Status::Fail);
    }
}
