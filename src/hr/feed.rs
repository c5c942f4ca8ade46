//! The HR export: a CSV with a header row, read with the `csv` crate. Every data row
//! becomes a [`Row`] or a [`BadRow`] with its line number; bad rows change nothing.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};

use super::mapping::Mapping;

/// One good row, values trimmed, dates as `YYYY-MM-DD`; `None`: the column is not
/// mapped or the cell is empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The line the record starts on (1 is the header).
    pub line: u64,
    pub employee_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub manager_id: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub terminated: bool,
}

/// A row that changes nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BadRow {
    pub line: u64,
    pub employee_id: Option<String>,
    pub problem: String,
}

/// The whole export.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub rows: Vec<Row>,
    pub bad: Vec<BadRow>,
    /// The number of data rows read.
    pub records: usize,
}

impl Feed {
    /// Whether an employee id is on any row, good or bad (a person on a bad row has
    /// not disappeared from the export).
    pub fn mentions(&self, id: &str) -> bool {
        self.rows.iter().any(|r| r.employee_id == id)
            || self
                .bad
                .iter()
                .any(|b| b.employee_id.as_deref() == Some(id))
    }
}

/// Read the CSV bytes; `name` is the file name for messages. A header that lacks a
/// mapped column is an error for the whole file.
pub fn read(name: &str, bytes: &[u8], m: &Mapping) -> anyhow::Result<Feed> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = rdr
        .headers()
        .map_err(|e| anyhow!("{name}: cannot read the header row: {e}"))?
        .clone();
    let cols = &m.file.columns;
    let find = |key: &str, col: &str| -> anyhow::Result<usize> {
        header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(col))
            .ok_or_else(|| {
                anyhow!(
                    "{name}:1: the header has no column {col:?} (mapping columns.{key}); it has: {}",
                    header.iter().collect::<Vec<_>>().join(", ")
                )
            })
    };
    let opt = |key: &str, col: &Option<String>| -> anyhow::Result<Option<usize>> {
        col.as_deref().map(|c| find(key, c)).transpose()
    };
    let ix_id = find("employee_id", &cols.employee_id)?;
    let ix_first = find("first_name", &cols.first_name)?;
    let ix_last = find("last_name", &cols.last_name)?;
    let ix_email = find("email", &cols.email)?;
    let ix_dept = opt("department", &cols.department)?;
    let ix_title = opt("job_title", &cols.job_title)?;
    let ix_mgr = opt("manager_id", &cols.manager_id)?;
    let ix_start = opt("start_date", &cols.start_date)?;
    let ix_end = opt("end_date", &cols.end_date)?;
    let ix_status = opt("status", &cols.status)?;
    if ix_status.is_some() && m.file.terminated_status.is_empty() {
        bail!("{name}: the mapping names a status column but no terminated_status values");
    }

    let mut feed = Feed::default();
    for rec in rdr.records() {
        feed.records += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                feed.bad.push(BadRow {
                    line,
                    employee_id: None,
                    problem: format!("not readable as CSV: {e}"),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(str::is_empty) {
            feed.records -= 1;
            continue;
        }
        let cell = |i: usize| rec.get(i).unwrap_or("").to_string();
        let ocell = |i: Option<usize>| i.map(cell).filter(|s| !s.is_empty());
        let id = cell(ix_id);
        let bad = |problem: String| BadRow {
            line,
            employee_id: (!id.is_empty()).then(|| id.clone()),
            problem,
        };
        if id.is_empty() {
            feed.bad.push(bad(format!(
                "no employee id (column {:?})",
                cols.employee_id
            )));
            continue;
        }
        let date = |ix: Option<usize>, col: &Option<String>| -> Result<Option<String>, BadRow> {
            match ocell(ix) {
                None => Ok(None),
                Some(v) => m.date(&v).map(Some).ok_or_else(|| {
                    bad(format!(
                        "{:?} in column {:?} is not a date in the format {}",
                        v,
                        col.as_deref().unwrap_or_default(),
                        m.file.date_format
                    ))
                }),
            }
        };
        let start = date(ix_start, &cols.start_date);
        let end = date(ix_end, &cols.end_date);
        let (start, end) = match (start, end) {
            (Ok(s), Ok(e)) => (s, e),
            (Err(b), _) | (_, Err(b)) => {
                feed.bad.push(b);
                continue;
            }
        };
        if let (Some(s), Some(e)) = (&start, &end)
            && e < s
        {
            feed.bad
                .push(bad(format!("end date {e} is before start date {s}")));
            continue;
        }
        feed.rows.push(Row {
            line,
            employee_id: id.clone(),
            first_name: cell(ix_first),
            last_name: cell(ix_last),
            email: cell(ix_email),
            department: ocell(ix_dept),
            job_title: ocell(ix_title),
            manager_id: ocell(ix_mgr),
            start_date: start,
            end_date: end,
            terminated: ocell(ix_status).is_some_and(|s| m.terminated(&s)),
        });
    }

    // An employee id on two rows: neither row is trusted.
    let mut lines: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in &feed.rows {
        lines.entry(r.employee_id.clone()).or_default().push(r.line);
    }
    for b in &feed.bad {
        if let Some(id) = &b.employee_id {
            lines.entry(id.clone()).or_default().push(b.line);
        }
    }
    let mut keep = Vec::new();
    for r in std::mem::take(&mut feed.rows) {
        let all = &lines[&r.employee_id];
        if all.len() > 1 {
            let others: Vec<String> = all
                .iter()
                .filter(|l| **l != r.line)
                .map(|l| l.to_string())
                .collect();
            feed.bad.push(BadRow {
                line: r.line,
                employee_id: Some(r.employee_id.clone()),
                problem: format!(
                    "duplicate employee id {} (also on line {})",
                    r.employee_id,
                    others.join(", ")
                ),
            });
        } else {
            keep.push(r);
        }
    }
    feed.rows = keep;
    feed.bad.sort();
    Ok(feed)
}
