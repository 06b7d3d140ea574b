//! Writes a config tree as TOML or JSON, the two formats `switchyard run` reads.

use std::path::Path;

use serde_json::{Map, Value};

/// A config file format, chosen by file extension as the loader chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// The format of a file named `path` (`.toml` or `.json`), if it is one of them.
    pub fn of_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The text of `tree` in `format`; `header` lines become a leading comment in TOML (JSON has
/// no comments, so they are left out there).
pub fn render(tree: &Value, format: Format, header: &[String]) -> Result<String, RenderError> {
    match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(tree).map_err(RenderError::Json)?;
            text.push('\n');
            Ok(text)
        }
        Format::Toml => {
            let mut text: String = header.iter().map(|line| format!("# {line}\n")).collect();
            let root = tree.as_object().ok_or(RenderError::NotATable)?;
            write_table(&mut text, "", root)?;
            Ok(text)
        }
    }
}

/// Writes a table the way the manual writes configs: plain values first (objects as inline
/// tables, `filter = { channel_name_starts_with = "presence-" }`), then each top-level table as
/// `[name]` and each list of tables as `[[path]]` sections.
fn write_table(
    out: &mut String,
    path: &str,
    table: &Map<String, Value>,
) -> Result<(), RenderError> {
    let is_section = |v: &Value| {
        (path.is_empty() && v.is_object())
            || v.as_array()
                .is_some_and(|items| !items.is_empty() && items.iter().all(Value::is_object))
    };
    for (key, value) in table.iter().filter(|(_, v)| !is_section(v)) {
        let value = toml::Value::try_from(value).map_err(RenderError::Toml)?;
        out.push_str(&format!("{} = {value}\n", toml_key(key)));
    }
    for (key, value) in table.iter().filter(|(_, v)| is_section(v)) {
        let path = if path.is_empty() {
            toml_key(key)
        } else {
            format!("{path}.{}", toml_key(key))
        };
        match value {
            Value::Object(inner) => {
                out.push_str(&format!("\n[{path}]\n"));
                write_table(out, &path, inner)?;
            }
            Value::Array(items) => {
                for item in items.iter().filter_map(Value::as_object) {
                    out.push_str(&format!("\n[[{path}]]\n"));
                    write_table(out, &path, item)?;
                }
            }
            _ => unreachable!("only tables and lists of tables are sections"),
        }
    }
    Ok(())
}

/// A key as TOML writes it: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        key.to_owned()
    } else {
        toml::Value::String(key.to_owned()).to_string()
    }
}

/// A tree that cannot be written in the chosen format.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("a config is a table of settings")]
    NotATable,
    #[error("cannot write the config as TOML: {0}")]
    Toml(#[source] toml::ser::Error),
    #[error("cannot write the config as JSON: {0}")]
    Json(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn toml_reads_like_the_readme_and_parses_back_to_the_same_tree() {
        let tree = json!({
            "server": { "listen": "127.0.0.1:7700" },
            "apps": [{
                "id": "app-1", "key": "k", "secret": "s", "batching": { "window_ms": 50 },
                "webhooks": [{
                    "url": "http://127.0.0.1:9000/hooks",
                    "event_types": ["member_added", "member_removed"],
                    "headers": { "X-Tenant": "acme", "a b": "quoted \"key\"" },
                    "filter": { "channel_name_starts_with": "presence-" }
                }]
            }]
        });
        let text = render(&tree, Format::Toml, &["header".into()]).unwrap();
        assert!(text.starts_with("# header\n"), "{text}");
        assert!(
            text.contains("\n[server]\nlisten = \"127.0.0.1:7700\"\n"),
            "{text}"
        );
        assert!(text.contains("\n[[apps]]\nid = \"app-1\"\n"), "{text}");
        assert!(text.contains("batching = { window_ms = 50 }"), "{text}");
        assert!(text.contains("\n[[apps.webhooks]]\n"), "{text}");
        assert!(
            text.contains("event_types = [\"member_added\", \"member_removed\"]"),
            "{text}"
        );
        assert!(
            text.contains("filter = { channel_name_starts_with = \"presence-\" }"),
            "{text}"
        );
        let back: Value = toml::from_str(&text).unwrap();
        assert_eq!(back, tree);
    }
}
