//! TEMPORARY stand-in (replaced by the real engine at merge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    src: String,
    parts: Vec<(bool, String)>,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}
impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find('{') {
            parts.push((false, rest[..i].to_string()));
            let j = rest[i..].find('}').ok_or(TemplateError {
                offset: i,
                message: "unclosed".into(),
            })?;
            parts.push((true, rest[i + 1..i + j].trim().to_string()));
            rest = &rest[i + j + 1..];
        }
        parts.push((false, rest.to_string()));
        Ok(Template {
            src: text.into(),
            parts,
        })
    }
    pub fn field(name: &str) -> Template {
        Template {
            src: format!("{{{name}}}"),
            parts: vec![(true, name.into())],
        }
    }
    pub fn render(&self, value: &dyn Fn(&str) -> Option<String>) -> String {
        self.parts
            .iter()
            .map(|(f, s)| {
                if *f {
                    value(s).unwrap_or_default()
                } else {
                    s.clone()
                }
            })
            .collect()
    }
    pub fn fields(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter(|p| p.0)
            .map(|p| p.1.as_str())
            .collect()
    }
    pub fn source(&self) -> &str {
        &self.src
    }
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| !p.0)
    }
}
