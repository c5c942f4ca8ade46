//! OData query options as Graph's directory endpoints accept them: `$select`, `$top`,
//! `$skiptoken`, `$filter` (a small expression language with Graph's default vs.
//! advanced-query rules), `$count`, `$deltatoken` — parsed strictly, with Graph's 400s.

use base64::Engine;
use serde_json::Value;

use super::error::GraphError;

/// The query options of one request.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Decoded (name, value) pairs in request order, used to rebuild nextLinks.
    pub raw: Vec<(String, String)>,
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skiptoken: Option<String>,
    pub filter: Option<String>,
    pub count: bool,
    pub deltatoken: Option<String>,
    pub expand: Option<String>,
    pub orderby: Option<String>,
    pub search: Option<String>,
}

const KNOWN: &[&str] = &[
    "$select",
    "$top",
    "$skiptoken",
    "$filter",
    "$count",
    "$deltatoken",
    "$expand",
    "$orderby",
    "$search",
    "$skip",
    "$format",
];

impl Query {
    pub fn parse(query: Option<&str>) -> Result<Query, GraphError> {
        let mut q = Query::default();
        let Some(qs) = query else { return Ok(q) };
        let mut seen: Vec<String> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(qs.as_bytes()) {
            let k = k.into_owned();
            let v = v.into_owned();
            q.raw.push((k.clone(), v.clone()));
            let lk = k.to_ascii_lowercase();
            if !lk.starts_with('$') {
                continue;
            }
            if !KNOWN.contains(&lk.as_str()) {
                return Err(GraphError::odata_bad_request(format!(
                    "The query parameter '{k}' is not supported."
                )));
            }
            if seen.contains(&lk) {
                return Err(GraphError::odata_bad_request(format!(
                    "Query option '{k}' was specified more than once, but it must be specified at most once."
                )));
            }
            seen.push(lk.clone());
            match lk.as_str() {
                "$select" => {
                    let props: Vec<String> = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    if props.is_empty() {
                        return Err(GraphError::odata_bad_request(
                            "Syntax error: '$select' is empty.",
                        ));
                    }
                    q.select = Some(props);
                }
                "$top" => {
                    let n: i64 = v.trim().parse().map_err(|_| {
                        GraphError::odata_bad_request(format!(
                            "Invalid value '{v}' for $top query option found. The $top query option requires a non-negative integer value."
                        ))
                    })?;
                    if !(1..=999).contains(&n) {
                        return Err(GraphError::unsupported_query(format!(
                            "Invalid page size specified: '{n}'. Must be between 1 and 999 inclusive."
                        )));
                    }
                    q.top = Some(n as usize);
                }
                "$skiptoken" => q.skiptoken = Some(v),
                "$filter" => q.filter = Some(v),
                "$count" => match v.as_str() {
                    "true" => q.count = true,
                    "false" => q.count = false,
                    _ => {
                        return Err(GraphError::odata_bad_request(format!(
                            "'{v}' is not a valid count option."
                        )));
                    }
                },
                "$deltatoken" => q.deltatoken = Some(v),
                "$expand" => q.expand = Some(v),
                "$orderby" => q.orderby = Some(v),
                "$search" => q.search = Some(v),
                "$skip" => {
                    return Err(GraphError::unsupported_query(
                        "'$skip' is not supported by the service.",
                    ));
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// The query string for the next page: every option kept, `$skiptoken` replaced.
    pub fn with_skiptoken(&self, token: &str) -> String {
        self.rebuild(&[("$skiptoken", token)], &["$skiptoken", "$deltatoken"])
    }

    /// Rebuild a query string, dropping `drop` (case-insensitive) and appending `add`.
    pub fn rebuild(&self, add: &[(&str, &str)], drop: &[&str]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.raw {
            if drop.iter().any(|d| d.eq_ignore_ascii_case(k)) {
                continue;
            }
            ser.append_pair(k, v);
        }
        for (k, v) in add {
            ser.append_pair(k, v);
        }
        // Graph's links keep `$` and `,` readable; clients accept either form.
        ser.finish().replace("%24", "$").replace("%2C", ",")
    }
}

/// Encode an opaque continuation token.
pub fn encode_token(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
}

/// Decode a token made by [`encode_token`]; `None` when it is not one.
pub fn decode_token(s: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim().as_bytes())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

// ---------------------------------------------------------------------------------------
// $filter
// ---------------------------------------------------------------------------------------

/// A literal in a filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Bool(bool),
    Null,
    Num(f64),
    /// An OData `dateTimeOffset` literal (`2024-01-01T00:00:00Z`, unquoted).
    DateTime(time::OffsetDateTime),
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        prop: String,
        op: String,
        lit: Lit,
    },
    In {
        prop: String,
        lits: Vec<Lit>,
    },
    Func {
        name: String,
        prop: String,
        arg: Lit,
    },
    /// `prop/any(x: x eq 'v')` or `prop/any(x: x/sub eq v)`.
    Any {
        prop: String,
        sub: Option<String>,
        op: String,
        lit: Lit,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    DateTime(time::OffsetDateTime),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn syntax(msg: &str) -> GraphError {
    GraphError::odata_bad_request(format!("Invalid filter clause: {msg}"))
}

fn lex(s: &str) -> Result<Vec<Tok>, GraphError> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if c == ':' {
            out.push(Tok::Colon);
            i += 1;
        } else if c == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                if i >= chars.len() {
                    return Err(syntax("unterminated string literal."));
                }
                if chars[i] == '\'' {
                    if i + 1 < chars.len() && chars[i + 1] == '\'' {
                        v.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                v.push(chars[i]);
                i += 1;
            }
            out.push(Tok::Str(v));
        } else if c.is_ascii_digit() || c == '-' {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '-'
                    || chars[i] == '.'
                    || chars[i] == ':'
                    || chars[i] == '+')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if let Ok(n) = text.parse::<f64>() {
                out.push(Tok::Num(n));
            } else if let Ok(d) =
                time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            {
                // OData ABNF dateTimeOffsetValue: an unquoted RFC 3339 date-time.
                out.push(Tok::DateTime(d));
            } else if uuid::Uuid::parse_str(&text).is_ok() {
                out.push(Tok::Str(text));
            } else {
                return Err(syntax(&format!("unexpected '{text}'.")));
            }
        } else if c.is_alphabetic() || c == '_' || c == '@' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || chars[i] == '/'
                    || chars[i] == '.'
                    || chars[i] == '-'
                    || chars[i] == '@'
                    || chars[i] == '$')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            // A GUID literal starting with a letter.
            if uuid::Uuid::parse_str(&text).is_ok() {
                out.push(Tok::Str(text));
            } else {
                out.push(Tok::Ident(text));
            }
        } else {
            return Err(syntax(&format!("unexpected character '{c}'.")));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, t: Tok) -> Result<(), GraphError> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            _ => Err(syntax(&format!("expected {t:?}."))),
        }
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }
    fn or(&mut self) -> Result<Expr, GraphError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(syntax("expression is nested too deeply."));
        }
        let mut l = self.and()?;
        while self.is_kw("or") {
            self.pos += 1;
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        self.depth -= 1;
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, GraphError> {
        let mut l = self.unary()?;
        while self.is_kw("and") {
            self.pos += 1;
            let r = self.unary()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, GraphError> {
        if self.is_kw("not") {
            self.pos += 1;
            self.depth += 1;
            if self.depth > 64 {
                return Err(syntax("expression is nested too deeply."));
            }
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.primary()
    }
    fn lit(&mut self) -> Result<Lit, GraphError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Num(n)) => Ok(Lit::Num(n)),
            Some(Tok::DateTime(d)) => Ok(Lit::DateTime(d)),
            Some(Tok::Ident(s)) if s == "true" => Ok(Lit::Bool(true)),
            Some(Tok::Ident(s)) if s == "false" => Ok(Lit::Bool(false)),
            Some(Tok::Ident(s)) if s == "null" => Ok(Lit::Null),
            _ => Err(syntax("expected a literal.")),
        }
    }
    fn primary(&mut self) -> Result<Expr, GraphError> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Ident(name)) => {
                if matches!(self.peek(), Some(Tok::LParen)) {
                    // function call: startsWith(prop, 'x') / endsWith(...)
                    self.pos += 1;
                    if let Some(prop) = name.strip_suffix("/any") {
                        let var = match self.next() {
                            Some(Tok::Ident(v)) => v,
                            _ => return Err(syntax("expected a lambda variable.")),
                        };
                        self.expect(Tok::Colon)?;
                        let lhs = match self.next() {
                            Some(Tok::Ident(v)) => v,
                            _ => return Err(syntax("expected a lambda body.")),
                        };
                        let sub = if lhs == var {
                            None
                        } else if let Some(s) = lhs.strip_prefix(&format!("{var}/")) {
                            Some(s.to_string())
                        } else {
                            return Err(syntax("lambda body must use the lambda variable."));
                        };
                        let op = match self.next() {
                            Some(Tok::Ident(op)) => op.to_ascii_lowercase(),
                            _ => return Err(syntax("expected an operator.")),
                        };
                        let lit = self.lit()?;
                        self.expect(Tok::RParen)?;
                        return Ok(Expr::Any {
                            prop: prop.to_string(),
                            sub,
                            op,
                            lit,
                        });
                    }
                    let prop = match self.next() {
                        Some(Tok::Ident(p)) => p,
                        _ => return Err(syntax("expected a property name.")),
                    };
                    self.expect(Tok::Comma)?;
                    let arg = self.lit()?;
                    self.expect(Tok::RParen)?;
                    return Ok(Expr::Func {
                        name: name.to_ascii_lowercase(),
                        prop,
                        arg,
                    });
                }
                let op = match self.next() {
                    Some(Tok::Ident(op)) => op.to_ascii_lowercase(),
                    _ => return Err(syntax("expected an operator.")),
                };
                if op == "in" {
                    self.expect(Tok::LParen)?;
                    let mut lits = vec![self.lit()?];
                    while matches!(self.peek(), Some(Tok::Comma)) {
                        self.pos += 1;
                        lits.push(self.lit()?);
                    }
                    self.expect(Tok::RParen)?;
                    if lits.len() > 15 {
                        return Err(GraphError::unsupported_query(
                            "Too many child clauses specified in search filter expression containing 'OR' operators: 16. Max allowed: 15.",
                        ));
                    }
                    return Ok(Expr::In { prop: name, lits });
                }
                if !["eq", "ne", "ge", "le", "gt", "lt"].contains(&op.as_str()) {
                    return Err(syntax(&format!("unknown operator '{op}'.")));
                }
                let lit = self.lit()?;
                Ok(Expr::Cmp {
                    prop: name,
                    op,
                    lit,
                })
            }
            _ => Err(syntax("expected an expression.")),
        }
    }
}

/// Parse a `$filter` value.
pub fn parse_filter(s: &str) -> Result<Expr, GraphError> {
    if s.len() > 4096 {
        return Err(syntax("the filter is too long."));
    }
    let toks = lex(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(syntax("unexpected trailing tokens."));
    }
    Ok(e)
}

/// What one entity type allows in `$filter` without advanced queries.
pub struct FilterRules {
    pub resource: &'static str,
    /// (property, operators allowed by default)
    pub default_ops: &'static [(&'static str, &'static [&'static str])],
    /// Every filterable property (advanced queries).
    pub filterable: &'static [&'static str],
    /// Edm.DateTimeOffset properties compared with `eq`, `ge`, `le`, `gt` and `lt`
    /// against a dateTimeOffset literal without the advanced query parameters.
    pub dated: &'static [&'static str],
}

pub const USER_RULES: FilterRules = FilterRules {
    resource: "User",
    default_ops: &[
        ("id", &["eq", "in"]),
        ("userPrincipalName", &["eq", "in", "startswith"]),
        ("displayName", &["eq", "in", "startswith"]),
        ("givenName", &["eq", "in", "startswith"]),
        ("surname", &["eq", "in", "startswith"]),
        ("mail", &["eq", "in", "startswith"]),
        ("mailNickname", &["eq", "in", "startswith"]),
        ("jobTitle", &["eq", "in", "startswith"]),
        ("employeeId", &["eq", "in", "startswith"]),
        ("accountEnabled", &["eq"]),
        ("userType", &["eq", "in"]),
        ("usageLocation", &["eq"]),
        ("otherMails", &["any"]),
        ("assignedLicenses", &["any"]),
        ("proxyAddresses", &["any"]),
    ],
    filterable: &[
        "id",
        "userPrincipalName",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "mailNickname",
        "jobTitle",
        "employeeId",
        "accountEnabled",
        "userType",
        "usageLocation",
        "department",
        "companyName",
        "city",
        "country",
        "mobilePhone",
        "officeLocation",
        "employeeType",
        "otherMails",
        "assignedLicenses",
        "createdDateTime",
        "preferredLanguage",
        "proxyAddresses",
        "creationType",
        "externalUserState",
        "onPremisesSyncEnabled",
        "onPremisesImmutableId",
        "onPremisesSamAccountName",
    ],
    dated: &[],
};

pub const GROUP_RULES: FilterRules = FilterRules {
    resource: "Group",
    default_ops: &[
        ("id", &["eq", "in"]),
        ("displayName", &["eq", "in", "startswith"]),
        ("mail", &["eq", "in", "startswith"]),
        ("mailNickname", &["eq", "in", "startswith"]),
        ("mailEnabled", &["eq"]),
        ("securityEnabled", &["eq", "in"]),
        ("groupTypes", &["any"]),
        ("proxyAddresses", &["any"]),
    ],
    filterable: &[
        "id",
        "displayName",
        "mail",
        "mailNickname",
        "mailEnabled",
        "securityEnabled",
        "groupTypes",
        "description",
        "createdDateTime",
        "visibility",
        "proxyAddresses",
        "membershipRule",
        "membershipRuleProcessingState",
        "isAssignableToRole",
        "onPremisesSyncEnabled",
    ],
    dated: &[],
};

/// Deleted users (`/directory/deletedItems/microsoft.graph.user`): the user's rules,
/// plus `deletedDateTime` ranges (directory-deleteditems-list.md: the cast type's
/// query parameters; resources/directoryobject.md and user.md: `deletedDateTime`
/// supports `$filter` with `eq`, `ge`, `le`, and the page's examples page through it).
pub const DELETED_USER_RULES: FilterRules = FilterRules {
    dated: &["deletedDateTime"],
    ..USER_RULES
};

/// Deleted groups, as [`DELETED_USER_RULES`].
pub const DELETED_GROUP_RULES: FilterRules = FilterRules {
    dated: &["deletedDateTime"],
    ..GROUP_RULES
};

/// Check a filter against the type's rules. `advanced` = ConsistencyLevel eventual + $count.
pub fn check_filter(e: &Expr, rules: &FilterRules, advanced: bool) -> Result<(), GraphError> {
    let unsupported_prop = |p: &str| {
        GraphError::unsupported_query(format!(
            "Unsupported or invalid query filter clause specified for property '{p}' of resource '{}'.",
            rules.resource
        ))
    };
    let needs_advanced = |op: &str| {
        GraphError::unsupported_query(format!(
            "Operator '{op}' is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
        ))
    };
    let allowed = |p: &str, op: &str| -> Result<(), GraphError> {
        if !rules.filterable.contains(&p) {
            return Err(unsupported_prop(p));
        }
        if advanced {
            return Ok(());
        }
        match rules.default_ops.iter().find(|(n, _)| *n == p) {
            Some((_, ops)) if ops.contains(&op) => Ok(()),
            Some(_) if ["ne", "endswith", "not"].contains(&op) => Err(needs_advanced(op)),
            _ => Err(unsupported_prop(p)),
        }
    };
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_filter(a, rules, advanced)?;
            check_filter(b, rules, advanced)
        }
        Expr::Not(inner) => {
            if !advanced {
                return Err(needs_advanced("not"));
            }
            check_filter(inner, rules, advanced)
        }
        Expr::Cmp { prop, op, lit } if rules.dated.contains(&prop.as_str()) => {
            let kind = match op.as_str() {
                "eq" => "Equal",
                "ne" => "NotEqual",
                "ge" => "GreaterThanOrEqual",
                "le" => "LessThanOrEqual",
                "gt" => "GreaterThan",
                _ => "LessThan",
            };
            let operand = match lit {
                Lit::DateTime(_) => None,
                Lit::Null if advanced => None,
                Lit::Null => return Err(needs_advanced(op)),
                Lit::Str(_) => Some("Edm.String"),
                Lit::Num(_) => Some("Edm.Double"),
                Lit::Bool(_) => Some("Edm.Boolean"),
            };
            if let Some(t) = operand {
                return Err(GraphError::odata_bad_request(format!(
                    "A binary operator with incompatible types was detected. Found operand types 'Edm.DateTimeOffset' and '{t}' for operator kind '{kind}'."
                )));
            }
            if op == "ne" && !advanced {
                return Err(needs_advanced(op));
            }
            Ok(())
        }
        Expr::Cmp { prop, op, lit } => {
            if *lit == Lit::Null && !advanced {
                return Err(needs_advanced(op));
            }
            if ["ge", "le", "gt", "lt"].contains(&op.as_str()) && !advanced {
                return Err(unsupported_prop(prop));
            }
            allowed(prop, op)
        }
        Expr::In { prop, .. } => allowed(prop, "in"),
        Expr::Func { name, prop, .. } => match name.as_str() {
            "startswith" => allowed(prop, "startswith"),
            "endswith" => {
                if !advanced {
                    return Err(needs_advanced("endsWith"));
                }
                allowed(prop, "endswith")
            }
            other => Err(GraphError::odata_bad_request(format!(
                "An unknown function with name '{other}' was found."
            ))),
        },
        Expr::Any { prop, .. } => allowed(prop, "any"),
    }
}

fn lit_matches(v: &Value, op: &str, lit: &Lit) -> bool {
    let ord = match (v, lit) {
        (Value::Null, Lit::Null) => Some(std::cmp::Ordering::Equal),
        (Value::Null, _) | (_, Lit::Null) => None,
        (Value::String(a), Lit::Str(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Value::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        (Value::Number(a), Lit::Num(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
        (Value::String(a), Lit::DateTime(b)) => {
            time::OffsetDateTime::parse(a, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|a| a.cmp(b))
        }
        _ => None,
    };
    match op {
        "eq" => ord == Some(std::cmp::Ordering::Equal),
        "ne" => ord != Some(std::cmp::Ordering::Equal),
        "ge" => matches!(
            ord,
            Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
        ),
        "le" => matches!(
            ord,
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        ),
        "gt" => ord == Some(std::cmp::Ordering::Greater),
        "lt" => ord == Some(std::cmp::Ordering::Less),
        _ => false,
    }
}

/// Evaluate a checked filter against an entity through its property accessor.
pub fn eval(e: &Expr, get: &dyn Fn(&str) -> Option<Value>) -> bool {
    match e {
        Expr::And(a, b) => eval(a, get) && eval(b, get),
        Expr::Or(a, b) => eval(a, get) || eval(b, get),
        Expr::Not(a) => !eval(a, get),
        Expr::Cmp { prop, op, lit } => lit_matches(&get(prop).unwrap_or(Value::Null), op, lit),
        Expr::In { prop, lits } => {
            let v = get(prop).unwrap_or(Value::Null);
            lits.iter().any(|l| lit_matches(&v, "eq", l))
        }
        Expr::Func { name, prop, arg } => {
            let (Some(Value::String(v)), Lit::Str(a)) = (get(prop), arg) else {
                return false;
            };
            let (v, a) = (v.to_lowercase(), a.to_lowercase());
            match name.as_str() {
                "startswith" => v.starts_with(&a),
                "endswith" => v.ends_with(&a),
                _ => false,
            }
        }
        Expr::Any { prop, sub, op, lit } => {
            let Some(Value::Array(items)) = get(prop) else {
                return false;
            };
            items.iter().any(|item| {
                let v = match sub {
                    Some(s) => item.get(s).cloned().unwrap_or(Value::Null),
                    None => item.clone(),
                };
                lit_matches(&v, op, lit)
            })
        }
    }
}

/// When a filter pins the result to a few keys of an index (`prop eq 'x'` or `prop in (...)`,
/// possibly and-ed with more), return those keys, so the lookup avoids a scan.
pub fn index_keys(e: &Expr, prop: &str) -> Option<Vec<String>> {
    match e {
        Expr::Cmp {
            prop: p,
            op,
            lit: Lit::Str(s),
        } if p == prop && op == "eq" => Some(vec![s.clone()]),
        Expr::In { prop: p, lits } if p == prop => lits
            .iter()
            .map(|l| {
                if let Lit::Str(s) = l {
                    Some(s.clone())
                } else {
                    None
                }
            })
            .collect(),
        Expr::And(a, b) => index_keys(a, prop).or_else(|| index_keys(b, prop)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// $orderby
// ---------------------------------------------------------------------------------------

/// One `$orderby` key: a property and its direction.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub prop: String,
    pub desc: bool,
}

/// Which properties a directory collection sorts by (concepts/aad-advanced-queries.md,
/// "Support for sorting by properties"): `default` ones work on every request,
/// `advanced` ones only with `ConsistencyLevel: eventual` and `$count`.
pub struct SortRules {
    pub resource: &'static str,
    pub default: &'static [&'static str],
    pub advanced: &'static [&'static str],
}

pub const USER_SORT: SortRules = SortRules {
    resource: "User",
    default: &["displayName", "userPrincipalName"],
    advanced: &["createdDateTime"],
};

pub const GROUP_SORT: SortRules = SortRules {
    resource: "Group",
    default: &["displayName"],
    advanced: &["createdDateTime"],
};

/// Deleted users (api/directory-deleteditems-list.md, the `$orderby` table):
/// deletedDateTime only as an advanced query.
pub const DELETED_USER_SORT: SortRules = SortRules {
    resource: "User",
    default: &["displayName", "userPrincipalName"],
    advanced: &["deletedDateTime"],
};

pub const DELETED_GROUP_SORT: SortRules = SortRules {
    resource: "Group",
    default: &["displayName"],
    advanced: &["deletedDateTime"],
};

/// A group's members (api/group-list-members.md): every sort needs the advanced
/// query parameters.
pub const MEMBER_SORT: SortRules = SortRules {
    resource: "DirectoryObject",
    default: &[],
    advanced: &["displayName", "userPrincipalName", "createdDateTime"],
};

/// Parse `$orderby=prop [asc|desc][, …]`.
pub fn parse_orderby(s: &str) -> Result<Vec<OrderKey>, GraphError> {
    let mut keys = Vec::new();
    for part in s.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (prop, desc) = match words.as_slice() {
            [p] => (*p, false),
            [p, d] if d.eq_ignore_ascii_case("asc") => (*p, false),
            [p, d] if d.eq_ignore_ascii_case("desc") => (*p, true),
            _ => {
                return Err(GraphError::odata_bad_request(format!(
                    "Syntax error at position {} in '{s}'.",
                    s.len()
                )));
            }
        };
        keys.push(OrderKey {
            prop: prop.to_string(),
            desc,
        });
    }
    Ok(keys)
}

/// Check sort keys against a collection's rules; `advanced` = ConsistencyLevel
/// eventual + `$count`. An unsortable property, or an advanced-only one in a default
/// query, is Graph's 400 Request_UnsupportedQuery.
/// Property names are matched case-insensitively and put in their canonical case.
pub fn check_orderby(
    keys: &mut [OrderKey],
    rules: &SortRules,
    advanced: bool,
) -> Result<(), GraphError> {
    for k in keys.iter_mut() {
        let found = rules
            .default
            .iter()
            .chain(if advanced { rules.advanced } else { &[] })
            .find(|p| p.eq_ignore_ascii_case(&k.prop));
        if let Some(p) = found {
            k.prop = (*p).to_string();
            continue;
        }
        return Err(GraphError::unsupported_query(format!(
            "Unsupported sort property '{}' for '{}'.",
            k.prop, rules.resource
        )));
    }
    Ok(())
}

/// Compare two entities by sort keys (strings case-insensitively; `null` sorts before
/// any value, as in OData).
pub fn compare_by(
    keys: &[OrderKey],
    a: &dyn Fn(&str) -> Option<Value>,
    b: &dyn Fn(&str) -> Option<Value>,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for k in keys {
        let (va, vb) = (
            a(&k.prop).unwrap_or(Value::Null),
            b(&k.prop).unwrap_or(Value::Null),
        );
        let o = match (&va, &vb) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Number(x), Value::Number(y)) => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
            _ => va.to_string().cmp(&vb.to_string()),
        };
        let o = if k.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------------------------------
// $search
// ---------------------------------------------------------------------------------------

/// A parsed `$search` on directory objects (concepts/search-query-parameter.md, "Using
/// $search on directory object collections"): `"property:text"` clauses joined by
/// upper-case `AND` / `OR`, with parentheses.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    And(Box<Search>, Box<Search>),
    Or(Box<Search>, Box<Search>),
    Clause { prop: String, text: String },
}

fn search_syntax(s: &str) -> GraphError {
    GraphError::odata_bad_request(format!("Syntax error: the $search value '{s}' is invalid."))
}

#[derive(Debug, Clone, PartialEq)]
enum STok {
    Clause(String),
    And,
    Or,
    LParen,
    RParen,
}

fn search_lex(s: &str) -> Result<Vec<STok>, GraphError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(STok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(STok::RParen);
            i += 1;
        } else if c == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(search_syntax(s)),
                    Some('\\') => {
                        let Some(n) = chars.get(i + 1) else {
                            return Err(search_syntax(s));
                        };
                        v.push(*n);
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        v.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(STok::Clause(v));
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !"()\"".contains(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.as_str() {
                "AND" => out.push(STok::And),
                "OR" => out.push(STok::Or),
                _ => return Err(search_syntax(s)),
            }
        }
    }
    Ok(out)
}

struct SearchParser<'a> {
    toks: Vec<STok>,
    pos: usize,
    depth: usize,
    src: &'a str,
}

impl SearchParser<'_> {
    fn or(&mut self) -> Result<Search, GraphError> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(search_syntax(self.src));
        }
        let mut l = self.and()?;
        while self.toks.get(self.pos) == Some(&STok::Or) {
            self.pos += 1;
            let r = self.and()?;
            l = Search::Or(Box::new(l), Box::new(r));
        }
        self.depth -= 1;
        Ok(l)
    }
    fn and(&mut self) -> Result<Search, GraphError> {
        let mut l = self.primary()?;
        while self.toks.get(self.pos) == Some(&STok::And) {
            self.pos += 1;
            let r = self.primary()?;
            l = Search::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn primary(&mut self) -> Result<Search, GraphError> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(STok::LParen) => {
                let e = self.or()?;
                if self.toks.get(self.pos) != Some(&STok::RParen) {
                    return Err(search_syntax(self.src));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(STok::Clause(c)) => {
                let Some((prop, text)) = c.split_once(':') else {
                    return Err(GraphError::odata_bad_request(format!(
                        "Invalid $search clause '{c}': the syntax of a clause is \"<property>:<text to search>\"."
                    )));
                };
                Ok(Search::Clause {
                    prop: prop.trim().to_string(),
                    text: text.to_string(),
                })
            }
            _ => Err(search_syntax(self.src)),
        }
    }
}

/// Parse a `$search` value.
pub fn parse_search(s: &str) -> Result<Search, GraphError> {
    if s.len() > 4096 {
        return Err(search_syntax("…"));
    }
    let toks = search_lex(s)?;
    let mut p = SearchParser {
        toks,
        pos: 0,
        depth: 0,
        src: s,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(search_syntax(s));
    }
    Ok(e)
}

/// Check that every clause names a property the type can filter on ("Any property that
/// can be used in `$filter` can also be used inside `$search`").
pub fn check_search(e: &Search, rules: &[&FilterRules]) -> Result<(), GraphError> {
    match e {
        Search::And(a, b) | Search::Or(a, b) => {
            check_search(a, rules)?;
            check_search(b, rules)
        }
        Search::Clause { prop, .. } => {
            if rules.iter().any(|r| r.filterable.contains(&prop.as_str())) {
                Ok(())
            } else {
                Err(GraphError::unsupported_query(format!(
                    "Unsupported or invalid query search clause specified for property '{prop}' of resource '{}'.",
                    rules.first().map_or("DirectoryObject", |r| r.resource)
                )))
            }
        }
    }
}

/// Split text into search tokens as Graph does: at spaces, at a change from lower to
/// upper case, between letters and digits, and around symbols (each symbol a token of
/// its own); words separated only by symbols also yield their concatenation. Tokens
/// are lower-cased.
pub fn search_tokens(s: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum K {
        Lower,
        Upper,
        Digit,
        Other,
    }
    let kind = |c: char| {
        if c.is_ascii_digit() {
            K::Digit
        } else if c.is_uppercase() {
            K::Upper
        } else if c.is_alphabetic() {
            K::Lower
        } else {
            K::Other
        }
    };
    let mut out = Vec::new();
    for word in s.split_whitespace() {
        let mut parts: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut prev: Option<K> = None;
        let mut symbol = false;
        for c in word.chars() {
            let k = kind(c);
            if k == K::Other {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
                out.push(c.to_lowercase().collect());
                symbol = true;
                prev = None;
                continue;
            }
            let split = matches!(
                (prev, k),
                (Some(K::Lower), K::Upper)
                    | (Some(K::Digit), K::Lower | K::Upper)
                    | (Some(K::Lower | K::Upper), K::Digit)
            );
            if split && !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
            cur.extend(c.to_lowercase());
            prev = Some(k);
        }
        if !cur.is_empty() {
            parts.push(cur);
        }
        if symbol && parts.len() > 1 {
            out.push(parts.concat());
        }
        out.extend(parts);
    }
    out
}

/// Whether an entity matches a checked `$search`. On displayName and description every
/// word token of the search text must begin a token of the value (any order, any
/// case); on other string properties the clause is a case-insensitive `startsWith`.
pub fn search_matches(e: &Search, get: &dyn Fn(&str) -> Option<Value>) -> bool {
    match e {
        Search::And(a, b) => search_matches(a, get) && search_matches(b, get),
        Search::Or(a, b) => search_matches(a, get) || search_matches(b, get),
        Search::Clause { prop, text } => {
            let values: Vec<String> = match get(prop) {
                Some(Value::String(s)) => vec![s],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            if prop == "displayName" || prop == "description" {
                let wanted: Vec<String> = search_tokens(text)
                    .into_iter()
                    .filter(|t| t.chars().any(char::is_alphanumeric))
                    .collect();
                if wanted.is_empty() {
                    return false;
                }
                values.iter().any(|v| {
                    let have = search_tokens(v);
                    wanted
                        .iter()
                        .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
                })
            } else {
                let t = text.to_lowercase();
                values.iter().any(|v| v.to_lowercase().starts_with(&t))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn top_bounds() {
        assert!(Query::parse(Some("$top=999")).is_ok());
        let e = Query::parse(Some("$top=1000")).expect_err("out of range");
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert!(Query::parse(Some("$top=0")).is_err());
        assert!(Query::parse(Some("$top=abc")).is_err());
        assert!(Query::parse(Some("$top=1&$top=2")).is_err());
        assert!(Query::parse(Some("$bogus=1")).is_err());
    }

    #[test]
    fn filter_parse_and_eval() {
        let e = parse_filter("startsWith(displayName,'Al') and accountEnabled eq true")
            .expect("parses");
        check_filter(&e, &USER_RULES, false).expect("default-supported");
        let get = |p: &str| match p {
            "displayName" => Some(json!("alice")),
            "accountEnabled" => Some(json!(true)),
            _ => None,
        };
        assert!(eval(&e, &get));
        let e = parse_filter("groupTypes/any(c:c eq 'Unified')").expect("parses");
        check_filter(&e, &GROUP_RULES, false).expect("ok");
        assert!(eval(&e, &|_| Some(json!(["Unified"]))));
        assert!(!eval(&e, &|_| Some(json!([]))));
    }

    #[test]
    fn advanced_operators_need_consistency_level() {
        let e = parse_filter("endsWith(mail,'@contoso.com')").expect("parses");
        let err = check_filter(&e, &USER_RULES, false).expect_err("needs advanced");
        assert!(err.message.contains("ConsistencyLevel"));
        check_filter(&e, &USER_RULES, true).expect("advanced ok");
        let e = parse_filter("department eq 'Sales'").expect("parses");
        assert!(check_filter(&e, &USER_RULES, false).is_err());
        assert!(check_filter(&e, &USER_RULES, true).is_ok());
    }

    #[test]
    fn malformed_filters_are_errors_not_panics() {
        for f in [
            "",
            "(",
            "displayName eq",
            "eq 'x'",
            "startsWith(",
            "a/any(",
            "x in (",
            "'unterminated",
            "((((",
            "not",
        ] {
            assert!(parse_filter(f).is_err(), "{f}");
        }
        let deep = "(".repeat(500) + "id eq 'x'" + &")".repeat(500);
        assert!(parse_filter(&deep).is_err());
    }

    #[test]
    fn search_tokenizes_as_documented() {
        // concepts/search-query-parameter.md examples.
        assert_eq!(search_tokens("hello world"), vec!["hello", "world"]);
        assert_eq!(search_tokens("HelloWorld"), vec!["hello", "world"]);
        assert_eq!(search_tokens("helloWORLD"), vec!["hello", "world"]);
        assert_eq!(search_tokens("HELLOworld"), vec!["helloworld"]);
        assert_eq!(
            search_tokens("hello123world"),
            vec!["hello", "123", "world"]
        );
        let t = search_tokens("hello.world");
        for want in ["hello", ".", "world", "helloworld"] {
            assert!(t.contains(&want.to_string()), "{t:?}");
        }
        let e = parse_search("\"displayName:OneVideo\" OR \"mail:onevideo\"").expect("parses");
        assert!(search_matches(&e, &|p| (p == "displayName")
            .then(|| json!("Video One team"))));
        assert!(search_matches(&e, &|p| (p == "mail").then(|| json!("OneVideo@x.com"))));
        assert!(!search_matches(&e, &|p| (p == "displayName").then(|| json!("Onevideo"))));
        let e = parse_search(
            "\"description:One\" AND (\"displayName:Video\" OR \"displayName:Drive\")",
        )
        .expect("parses");
        assert!(matches!(e, Search::And(..)));
        for bad in [
            "displayName:x",
            "\"displayName:x\" and \"mail:y\"",
            "\"x",
            "(\"a:b\"",
        ] {
            assert!(parse_search(bad).is_err(), "{bad}");
        }
        assert!(parse_search("\"nocolon\"").is_err());
    }

    #[test]
    fn orderby_rules() {
        let mut k = parse_orderby("DisplayName desc").expect("parses");
        assert!(k[0].desc);
        check_orderby(&mut k, &USER_SORT, false).expect("default");
        assert_eq!(k[0].prop, "displayName");
        let mut k = parse_orderby("createdDateTime").expect("parses");
        assert!(check_orderby(&mut k, &USER_SORT, false).is_err());
        assert!(check_orderby(&mut k, &USER_SORT, true).is_ok());
        assert!(parse_orderby("displayName sideways").is_err());
    }

    #[test]
    fn index_keys_found() {
        let e = parse_filter("userPrincipalName in ('a@x.com','b@x.com')").expect("parses");
        assert_eq!(
            index_keys(&e, "userPrincipalName").map(|v| v.len()),
            Some(2)
        );
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn filter_parser_never_panics(s in "[a-zA-Z0-9 '()/:,.@$-]{0,120}") {
            if let Ok(e) = parse_filter(&s) {
                let _ = check_filter(&e, &USER_RULES, false);
                let _ = eval(&e, &|_| None);
            }
        }

        #[test]
        fn query_parser_never_panics(s in "\\PC{0,120}") {
            let _ = Query::parse(Some(&s));
        }
    }
}
