//! How results are printed: a table for people (`-o table`, the default), or the API's own JSON
//! (`-o json`) or its YAML (`-o yaml`) for scripts. JSON and YAML are the API's records as
//! they are, so a script reads exactly what the API documents.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// The columns of a list: (heading, field path).
pub type Columns = &'static [(&'static str, &'static str)];

pub const SANDBOX_COLUMNS: Columns = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("TENANT", "tenant"),
    ("STATE", "state"),
    ("EXPIRES", "expires_at"),
];
pub const ACCOUNT_COLUMNS: Columns = &[
    ("ACCOUNT", "account_id"),
    ("STATE", "state"),
    ("TENANT", "tenant"),
    ("UPDATED", "updated_at"),
];
pub const EVENT_COLUMNS: Columns = &[
    ("SEQ", "seq"),
    ("AT", "at"),
    ("OPERATION", "operation"),
    ("FROM", "from"),
    ("TO", "to"),
    ("BY", "actor"),
    ("ERROR", "error"),
];
pub const ACCOUNT_EVENT_COLUMNS: Columns = &[
    ("SEQ", "seq"),
    ("AT", "at"),
    ("CHANGE", "change"),
    ("FROM", "from"),
    ("TO", "to"),
    ("TENANT", "tenant"),
    ("REASON", "reason"),
];

pub const WEBHOOK_COLUMNS: Columns = &[
    ("ID", "id"),
    ("URL", "url"),
    ("EVENTS", "events"),
    ("SECRETS", "signing_secrets"),
    ("FAILING SINCE", "failing_since"),
    ("CREATED", "created_at"),
];
pub const DELIVERY_COLUMNS: Columns = &[
    ("DELIVERY", "id"),
    ("TYPE", "event_type"),
    ("STATUS", "status"),
    ("ATTEMPTS", "attempts"),
    ("NEXT", "next_at"),
    ("UPDATED", "updated_at"),
];

fn cell(value: &Value, path: &str) -> String {
    match &value[path] {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A list of items as a table, as JSON (`{"items": [...]}`) or as YAML.
pub fn list(format: Format, items: &[Value], columns: Columns) -> String {
    match format {
        Format::Json => pretty(&serde_json::json!({ "items": items })),
        Format::Yaml => yaml(&serde_json::json!({ "items": items })),
        Format::Table => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| columns.iter().map(|(_, path)| cell(item, path)).collect())
                .collect();
            let headings: Vec<String> = columns.iter().map(|(h, _)| (*h).to_owned()).collect();
            table(&headings, &rows)
        }
    }
}

/// One record: as `field  value` lines, JSON or YAML.
pub fn record(format: Format, value: &Value) -> String {
    match format {
        Format::Json => pretty(value),
        Format::Yaml => yaml(value),
        Format::Table => {
            let mut lines = Vec::new();
            flatten("", value, &mut lines);
            let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            lines
                .into_iter()
                .map(|(k, v)| format!("{k:<width$}  {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, inner, out);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            let joined: Vec<String> = items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string()))
                .collect();
            out.push((prefix.to_owned(), joined.join(", ")));
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

fn table(headings: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headings.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headings)];
    out.extend(rows.iter().map(|r| line(r)));
    out.join("\n")
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn yaml(value: &Value) -> String {
    serde_yaml::to_string(value)
        .unwrap_or_else(|_| value.to_string())
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_is_a_table_with_a_dash_for_what_is_missing() {
        let items = [
            json!({"id": "sb-1", "name": "demo", "tenant": "acme", "state": "started", "expires_at": "2026-12-02T00:00:00.000Z"}),
            json!({"id": "sb-22", "name": "x", "tenant": "acme", "state": "failed"}),
        ];
        let text = list(Format::Table, &items, SANDBOX_COLUMNS);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID     NAME  TENANT  STATE    EXPIRES");
        assert_eq!(lines[2], "sb-22  x     acme    failed   -");
    }

    #[test]
    fn json_and_yaml_are_the_api_records() {
        let items = [json!({"id": "sb-1", "state": "started"})];
        let parsed: Value =
            serde_json::from_str(&list(Format::Json, &items, SANDBOX_COLUMNS)).unwrap_or_default();
        assert_eq!(parsed, json!({"items": [{"id": "sb-1", "state": "started"}]}));
        assert!(record(Format::Yaml, &items[0]).contains("state: started"));
        let table = record(Format::Table, &json!({"id": "sb-1", "options": {"amq": true}}));
        assert!(table.contains("options.amq  true"), "{table}");
    }
}
