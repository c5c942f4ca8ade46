//! The mapping file of `roster hr sync`: which CSV column holds which field, the
//! status values that mean "terminated", the date format, where joiners are written
//! and how their usernames are made.

use std::path::Path;

use anyhow::{anyhow, bail};
use serde::Deserialize;

use crate::mapping::template::Template;

/// The mapping file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// Column names of the CSV header, per field.
    pub columns: Columns,
    /// Values of the status column that mean the person has left (case-insensitive).
    #[serde(default)]
    pub terminated_status: Vec<String>,
    /// The CSV's date format, with `YYYY`, `MM` and `DD` (default `YYYY-MM-DD`).
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// The repository YAML file (relative to the repository root) joiners are added to.
    pub new_users_file: String,
    /// The username of a joiner: an attribute template over the CSV's fields
    /// (default `{first_name|ascii|lower}.{last_name|ascii|lower}`); a taken name gets
    /// a number (`jdoe2`).
    #[serde(default = "default_username")]
    pub username: String,
    /// The most people whose rows may disappear from one export (each becomes a
    /// leaver); more is taken for a partial export and the whole sync is refused.
    #[serde(default = "default_max_disappeared")]
    pub max_disappeared: usize,
}

fn default_max_disappeared() -> usize {
    10
}

/// CSV header names. The first four are required; an absent optional column is not
/// read (and its field never changed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub employee_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    /// The manager's employee id.
    #[serde(default)]
    pub manager_id: Option<String>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

fn default_date_format() -> String {
    "YYYY-MM-DD".into()
}

fn default_username() -> String {
    "{first_name|ascii|lower}.{last_name|ascii|lower}".into()
}

/// A checked mapping, ready to use.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub file: MappingFile,
    pub date_format: time::format_description::OwnedFormatItem,
    pub username: Template,
}

impl Mapping {
    /// Parse a date of the CSV into `YYYY-MM-DD`.
    pub fn date(&self, s: &str) -> Option<String> {
        time::Date::parse(s, &self.date_format)
            .ok()
            .map(|d| d.to_string())
    }

    /// Whether a status value means terminated.
    pub fn terminated(&self, status: &str) -> bool {
        self.file
            .terminated_status
            .iter()
            .any(|t| t.trim().eq_ignore_ascii_case(status.trim()))
    }
}

/// `YYYY-MM-DD`-style → the `time` crate's format description.
fn date_format(s: &str) -> anyhow::Result<time::format_description::OwnedFormatItem> {
    if !(s.contains("YYYY") && s.contains("MM") && s.contains("DD")) {
        bail!(
            "date_format {s:?} must contain YYYY, MM and DD (e.g. YYYY-MM-DD, MM/DD/YYYY, DD.MM.YYYY)"
        );
    }
    let mut desc = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("YYYY") {
            desc.push_str("[year]");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("MM") {
            desc.push_str("[month]");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("DD") {
            desc.push_str("[day]");
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            if c == '[' || c == ']' || c.is_ascii_alphanumeric() {
                bail!("date_format {s:?}: unexpected {c:?} (use YYYY, MM, DD and separators)");
            }
            desc.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    time::format_description::parse_owned::<2>(&desc).map_err(|e| anyhow!("date_format {s:?}: {e}"))
}

/// Read and check the mapping file; errors name the file (and line:column for YAML
/// and unknown keys).
pub fn load(path: &Path) -> anyhow::Result<Mapping> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read {name}: {e}"))?;
    let file: MappingFile = serde_yaml::from_str(&text).map_err(|e| match e.location() {
        Some(l) => anyhow!("{name}:{}:{}: {e}", l.line(), l.column()),
        None => anyhow!("{name}: {e}"),
    })?;
    let f = &file.new_users_file;
    let p = Path::new(f);
    if f.is_empty()
        || p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        || !(f.ends_with(".yaml") || f.ends_with(".yml"))
        || p.components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    {
        bail!(
            "{name}: new_users_file {f:?} must be a .yaml or .yml path inside the repository (relative, no `..`, no hidden folders)"
        );
    }
    let date_format = date_format(&file.date_format).map_err(|e| anyhow!("{name}: {e}"))?;
    let username = Template::parse(&file.username)
        .map_err(|e| anyhow!("{name}: username {:?}: {e}", file.username))?;
    Ok(Mapping {
        file,
        date_format,
        username,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_formats() {
        let f = date_format("MM/DD/YYYY").unwrap();
        let d = time::Date::parse("03/31/2027", &f).unwrap();
        assert_eq!(d.to_string(), "2027-03-31");
        assert!(time::Date::parse("31/03/2027", &f).is_err());
        assert!(date_format("YY-MM-DD").is_err());
        assert!(date_format("YYYY-MM-DDx").is_err());
    }
}
