//! Paths: reference paths (read and write) and JSONPath queries (read), as ASL uses them.
//!
//! A reference path (`$`, `$.a.b`, `$['a'][0]`) names one node and is what ResultPath, ItemsPath
//! and the Choice `Variable` use; it is parsed here, and it can create the fields it writes.
//! Any other path (wildcards, filters, unions, slices, descendants) is a JSONPath query run by
//! `serde_json_path`; such an indefinite path yields an array of what it matched.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Field(String),
    Index(i64),
}

/// A path that names at most one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefPath(pub Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("'{0}' is not a valid path")]
    Invalid(String),
    #[error("the path '{0}' could not be found")]
    NotFound(String),
    #[error("unable to apply the path '{0}': {1}")]
    Unwritable(String, String),
}

impl RefPath {
    /// Parses a reference path; `None` when `path` is not one.
    pub fn parse(path: &str) -> Option<RefPath> {
        let mut rest = path.strip_prefix('$')?;
        let mut segments = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let name = &after[..end];
                if name.is_empty() || name.contains(['*', '(', ')', '?', '@', '$', ' ', '\'', '"', ']', ','])
                {
                    return None;
                }
                segments.push(Segment::Field(name.to_owned()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']')?;
                let inner = after[..end].trim();
                if let Some(quoted) = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                {
                    if quoted.contains(['\'', '"', '\\']) {
                        return None;
                    }
                    segments.push(Segment::Field(quoted.to_owned()));
                } else {
                    segments.push(Segment::Index(inner.parse().ok()?));
                }
                rest = &after[end + 1..];
            } else {
                return None;
            }
        }
        Some(RefPath(segments))
    }

    pub fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.0
            .iter()
            .try_fold(value, |node, segment| match (segment, node) {
                (Segment::Field(name), Value::Object(map)) => map.get(name),
                (Segment::Index(index), Value::Array(items)) => {
                    let index = if *index < 0 {
                        items.len() as i64 + index
                    } else {
                        *index
                    };
                    usize::try_from(index).ok().and_then(|i| items.get(i))
                }
                _ => None,
            })
    }

    /// `target` with `value` placed at this path, creating missing objects on the way.
    pub fn set(&self, target: Value, value: Value, text: &str) -> Result<Value, PathError> {
        let Some((first, rest)) = self.0.split_first() else {
            return Ok(value);
        };
        let unwritable = |why: &str| PathError::Unwritable(text.to_owned(), why.to_owned());
        match (first, target) {
            (Segment::Field(name), Value::Object(mut map)) => {
                let child = map.remove(name).unwrap_or(Value::Object(Map::new()));
                let child = RefPath(rest.to_vec()).set(child, value, text)?;
                map.insert(name.clone(), child);
                Ok(Value::Object(map))
            }
            (Segment::Index(index), Value::Array(mut items)) => {
                let index = if *index < 0 {
                    items.len() as i64 + index
                } else {
                    *index
                };
                let slot = usize::try_from(index)
                    .ok()
                    .filter(|i| *i < items.len())
                    .ok_or_else(|| unwritable("the array index is out of range"))?;
                let child = std::mem::take(&mut items[slot]);
                items[slot] = RefPath(rest.to_vec()).set(child, value, text)?;
                Ok(Value::Array(items))
            }
            (Segment::Field(_), other) => Err(unwritable(&format!(
                "it would place a field in a {} value",
                type_name(&other)
            ))),
            (Segment::Index(_), other) => Err(unwritable(&format!(
                "it would index a {} value",
                type_name(&other)
            ))),
        }
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Runs a path against `input`: one value for a reference path, an array of matches for an
/// indefinite JSONPath.
pub fn query(path: &str, input: &Value) -> Result<Value, PathError> {
    if let Some(reference) = RefPath::parse(path) {
        return reference
            .get(input)
            .cloned()
            .ok_or_else(|| PathError::NotFound(path.to_owned()));
    }
    let parsed = serde_json_path::JsonPath::parse(path).map_err(|_| PathError::Invalid(path.to_owned()))?;
    let nodes = parsed.query(input).all();
    if is_definite(path) {
        nodes
            .first()
            .map(|node| (*node).clone())
            .ok_or_else(|| PathError::NotFound(path.to_owned()))
    } else {
        Ok(Value::Array(nodes.into_iter().cloned().collect()))
    }
}

/// Whether a JSONPath names at most one node (no wildcard, filter, union, slice or descent).
fn is_definite(path: &str) -> bool {
    let mut quote = None;
    let mut depth = 0;
    let mut previous = ' ';
    for c in path.chars() {
        match quote {
            Some(q) if c == q && previous != '\\' => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => depth -= 1,
                '*' | '?' => return false,
                ',' | ':' if depth > 0 => return false,
                '.' if previous == '.' => return false,
                _ => {}
            },
        }
        previous = c;
    }
    true
}

/// Whether `path` is a syntactically valid path (reference path or JSONPath).
pub fn is_valid(path: &str) -> bool {
    RefPath::parse(path).is_some() || serde_json_path::JsonPath::parse(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reference_paths_read_and_write() {
        let doc = json!({"a": {"b": [1, {"c": 2}]}, "my-key": 3});
        assert_eq!(query("$", &doc), Ok(doc.clone()));
        assert_eq!(query("$.a.b[1].c", &doc), Ok(json!(2)));
        assert_eq!(query("$['a']['b'][0]", &doc), Ok(json!(1)));
        assert_eq!(query("$.a.b[-1].c", &doc), Ok(json!(2)));
        assert_eq!(query("$.my-key", &doc), Ok(json!(3)));
        assert!(matches!(query("$.a.x", &doc), Err(PathError::NotFound(_))));

        let path = RefPath::parse("$.x.y").unwrap_or_else(|| panic!("valid"));
        assert_eq!(
            path.set(json!({"k": 1}), json!(5), "$.x.y"),
            Ok(json!({"k": 1, "x": {"y": 5}}))
        );
        assert!(path.set(json!({"x": 1}), json!(5), "$.x.y").is_err());
        let root = RefPath::parse("$").unwrap_or_else(|| panic!("valid"));
        assert_eq!(root.set(json!({"k": 1}), json!(5), "$"), Ok(json!(5)));
    }

    #[test]
    fn indefinite_paths_yield_arrays() {
        let doc = json!({"items": [{"id": 1, "p": 5}, {"id": 2, "p": 20}]});
        assert_eq!(query("$.items[*].id", &doc), Ok(json!([1, 2])));
        assert_eq!(query("$.items[?(@.p > 10)].id", &doc), Ok(json!([2])));
        assert_eq!(query("$..id", &doc), Ok(json!([1, 2])));
        assert_eq!(query("$.items[0:1].id", &doc), Ok(json!([1])));
        assert_eq!(query("$.nothing[*]", &doc), Ok(json!([])));
    }
}
