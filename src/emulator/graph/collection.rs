//! Collection reads: page sizes, `$skiptoken` positions and nextLinks, and the
//! `$filter` / `$count` / `$search` / `$orderby` / `$expand` checks of list endpoints.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde_json::{Value, json};
use uuid::Uuid;

use super::Ctx;
use crate::emulator::error::GraphError;
use crate::emulator::odata::{self, Query};

pub(super) fn page_size(ctx: &Ctx<'_>, q: &Query) -> usize {
    q.top.or(ctx.max_page).unwrap_or(100).clamp(1, 999)
}

/// The id after which a page starts, from a `$skiptoken`.
pub(super) fn skip_after(q: &Query, tag: &str) -> Result<Option<Uuid>, GraphError> {
    let Some(tok) = &q.skiptoken else {
        return Ok(None);
    };
    let bad = || {
        GraphError::bad_request(
            "The specified page token value has expired and can no longer be included in your request.",
        )
    };
    let v = odata::decode_token(tok).ok_or_else(bad)?;
    if v.get("k").and_then(Value::as_str) != Some(tag) {
        return Err(bad());
    }
    let id = v
        .get("a")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(bad)?;
    Ok(Some(id))
}

pub(super) fn next_link(ctx: &Ctx<'_>, path: &str, q: &Query, tag: &str, last: &Uuid) -> String {
    let tok = odata::encode_token(&json!({ "k": tag, "a": last.to_string() }));
    format!("{}/v1.0/{}?{}", ctx.base, path, q.with_skiptoken(&tok))
}

/// The first `top` items and whether more follow (the page and its nextLink).
pub(super) fn take_page<'a, T>(
    items: impl Iterator<Item = &'a T>,
    top: usize,
) -> (Vec<&'a T>, bool) {
    let mut page = Vec::with_capacity(top.min(1000));
    for item in items {
        if page.len() == top {
            return (page, true);
        }
        page.push(item);
    }
    (page, false)
}

pub(super) fn range_after<V>(
    map: &BTreeMap<Uuid, V>,
    after: Option<Uuid>,
) -> std::collections::btree_map::Range<'_, Uuid, V> {
    match after {
        Some(a) => map.range((Bound::Excluded(a), Bound::Unbounded)),
        None => map.range::<Uuid, _>(..),
    }
}

/// The checked query options of one list request: its filter, search and sort.
pub(super) struct Filter {
    pub(super) expr: Option<odata::Expr>,
    /// `ConsistencyLevel: eventual` and `$count=true`: an advanced query, which also
    /// reports `@odata.count`.
    pub(super) advanced: bool,
    pub(super) search: Option<odata::Search>,
    pub(super) order: Vec<odata::OrderKey>,
}

impl Filter {
    /// Whether an entity passes both `$filter` and `$search`.
    pub(super) fn matches(&self, get: &dyn Fn(&str) -> Option<Value>) -> bool {
        self.expr.as_ref().is_none_or(|e| odata::eval(e, get))
            && self
                .search
                .as_ref()
                .is_none_or(|s| odata::search_matches(s, get))
    }
}

/// Graph's answer to `$search` on directory objects without the header
/// (concepts/aad-advanced-queries.md, "Error handling for advanced queries").
pub(super) fn search_needs_header() -> GraphError {
    GraphError::unsupported_query(
        "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
    )
}

/// Check `$filter`, `$search`, `$orderby` and `$count` of a directory list
/// (concepts/aad-advanced-queries.md): `$count=true` without `ConsistencyLevel:
/// eventual` is silently ignored (no `@odata.count`); `$search` needs the header (not
/// `$count`); advanced-only sort keys, and `$filter` together with `$orderby`, need
/// both. `$expand` is the caller's.
pub(super) fn prepare_filter(
    ctx: &Ctx<'_>,
    q: &Query,
    rules: &odata::FilterRules,
    sort: &odata::SortRules,
) -> Result<Filter, GraphError> {
    prepare_with(ctx, q, &[rules], sort, false)
}

/// [`prepare_filter`] for several entity types at once (a group's members), or with
/// every option needing the advanced query parameters (`strict`, as
/// api/group-list-members.md asks for `$filter`, `$orderby` and `$search`).
pub(super) fn prepare_with(
    ctx: &Ctx<'_>,
    q: &Query,
    rules: &[&odata::FilterRules],
    sort: &odata::SortRules,
    strict: bool,
) -> Result<Filter, GraphError> {
    let advanced = ctx.eventual && q.count;
    let search = match &q.search {
        Some(_) if !ctx.eventual => return Err(search_needs_header()),
        Some(s) => {
            let e = odata::parse_search(s.trim())?;
            odata::check_search(&e, rules)?;
            Some(e)
        }
        None => None,
    };
    let mut order = match &q.orderby {
        Some(o) => odata::parse_orderby(o)?,
        None => Vec::new(),
    };
    if !order.is_empty() && q.filter.is_some() && !advanced {
        return Err(GraphError::unsupported_query(
            "Sorting not supported for current query.",
        ));
    }
    odata::check_orderby(&mut order, sort, advanced)?;
    let expr = match &q.filter {
        Some(f) => {
            let e = odata::parse_filter(f)?;
            let mut last = Ok(());
            let ok = rules.iter().any(|r| {
                last = odata::check_filter(&e, r, advanced || strict);
                last.is_ok()
            });
            if !ok {
                last?;
            }
            Some(e)
        }
        None => None,
    };
    Ok(Filter {
        expr,
        advanced,
        search,
        order,
    })
}

/// The position a sorted listing's page starts at, from a `$skiptoken`.
pub(super) fn skip_offset(q: &Query, tag: &str) -> Result<usize, GraphError> {
    let Some(tok) = &q.skiptoken else {
        return Ok(0);
    };
    let v = odata::decode_token(tok);
    match v {
        Some(v) if v.get("k").and_then(Value::as_str) == Some(tag) => v
            .get("o")
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .ok_or_else(expired_token),
        _ => Err(expired_token()),
    }
}

fn expired_token() -> GraphError {
    GraphError::bad_request(
        "The specified page token value has expired and can no longer be included in your request.",
    )
}

/// Sort `items` by `$orderby` (ties keep their order) and cut the page at the
/// request's `$skiptoken` offset; returns the page and the next page's offset.
pub(super) fn sorted_page<'a, T>(
    mut items: Vec<&'a T>,
    order: &[odata::OrderKey],
    get: impl Fn(&T, &str) -> Option<Value>,
    q: &Query,
    tag: &str,
    top: usize,
) -> Result<(Vec<&'a T>, Option<usize>), GraphError> {
    items.sort_by(|a, b| odata::compare_by(order, &|p| get(a, p), &|p| get(b, p)));
    let from = skip_offset(q, tag)?;
    let page: Vec<&T> = items.iter().skip(from).take(top).copied().collect();
    let next = (from + page.len() < items.len()).then_some(from + page.len());
    Ok((page, next))
}

/// The nextLink of a sorted listing.
pub(super) fn offset_link(
    ctx: &Ctx<'_>,
    path: &str,
    q: &Query,
    tag: &str,
    offset: usize,
) -> String {
    let tok = odata::encode_token(&json!({ "k": tag, "o": offset }));
    format!("{}/v1.0/{}?{}", ctx.base, path, q.with_skiptoken(&tok))
}

/// The top-level items of an `$expand` value (commas inside parentheses kept), each
/// as its name and the text inside its parentheses.
pub(super) fn expand_items(raw: &str) -> Result<Vec<(String, Option<String>)>, GraphError> {
    let syntax = || GraphError::odata_bad_request(format!("Syntax error in '$expand={raw}'."));
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    let mut parts = Vec::new();
    for c in raw.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(syntax());
        }
        cur.push(c);
    }
    if depth != 0 {
        return Err(syntax());
    }
    parts.push(cur);
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            return Err(syntax());
        }
        match p.split_once('(') {
            Some((n, rest)) => {
                let inner = rest.strip_suffix(')').ok_or_else(syntax)?;
                out.push((n.trim().to_string(), Some(inner.to_string())));
            }
            None => out.push((p.to_string(), None)),
        }
    }
    Ok(out)
}

/// The `$select` inside an expanded item (`members($select=id,displayName)`); any
/// other nested option is refused.
pub(super) fn expand_select(inner: Option<&str>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(inner) = inner else { return Ok(None) };
    let mut select = None;
    for opt in inner.split(';').map(str::trim).filter(|o| !o.is_empty()) {
        let (k, v) = opt.split_once('=').ok_or_else(|| {
            GraphError::odata_bad_request(format!("Syntax error in '$expand' option '{opt}'."))
        })?;
        if !k.trim().eq_ignore_ascii_case("$select") {
            return Err(GraphError::odata_bad_request(format!(
                "The query option '{}' is not supported inside '$expand'.",
                k.trim()
            )));
        }
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
        select = Some(props);
    }
    Ok(select)
}

/// At most this many items of an expanded relationship, with no nextLink
/// (concepts/query-parameters.md, "expand parameter").
pub(super) const EXPAND_LIMIT: usize = 20;
