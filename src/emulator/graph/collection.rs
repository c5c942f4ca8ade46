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

pub(super) struct Filter {
    pub(super) expr: Option<odata::Expr>,
    pub(super) advanced: bool,
}

pub(super) fn prepare_filter(
    ctx: &Ctx<'_>,
    q: &Query,
    rules: &odata::FilterRules,
) -> Result<Filter, GraphError> {
    let advanced = ctx.eventual && q.count;
    if q.count && !ctx.eventual {
        return Err(GraphError::bad_request(
            "$count is not currently supported without the 'ConsistencyLevel: eventual' header.",
        ));
    }
    if q.search.is_some() && !ctx.eventual {
        return Err(GraphError::bad_request(
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    if q.search.is_some() {
        return Err(GraphError::unsupported_query(
            "$search is not supported by this tenant.",
        ));
    }
    if let Some(o) = &q.orderby {
        return Err(GraphError::unsupported_query(format!(
            "Sorting by '{o}' is not supported."
        )));
    }
    if let Some(e) = &q.expand {
        return Err(GraphError::unsupported_query(format!(
            "Expanding '{e}' is not supported."
        )));
    }
    let expr = match &q.filter {
        Some(f) => {
            let e = odata::parse_filter(f)?;
            odata::check_filter(&e, rules, advanced)?;
            Some(e)
        }
        None => None,
    };
    Ok(Filter { expr, advanced })
}
