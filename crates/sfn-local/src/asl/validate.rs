//! The rules a parsed definition must keep beyond the shape of its fields: every state reachable
//! and every transition to a state that exists, a terminal state on every path, paths that are
//! valid JSONPath, templates whose `.$` fields are paths or intrinsic functions.

use super::model::*;
use super::parser::Parser;
use crate::{intrinsics, path};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

impl Parser<'_> {
    /// Transitions lead to states of the same scope, every state is reachable, and the machine can end.
    pub(super) fn check_graph(&mut self, definition: &Definition, raw: &Map<String, Value>, at: &str) {
        if !definition.start_at.is_empty() && !raw.contains_key(&definition.start_at) {
            self.error(
                "MISSING_TRANSITION_TARGET",
                format!("Missing 'Next' target: {}", definition.start_at),
                &format!("{at}/StartAt"),
            );
        }
        let mut terminal = false;
        for state in definition.states.values() {
            let at = format!("{at}/States/{}", state.name);
            for (field, target) in transitions(state) {
                if !raw.contains_key(target) {
                    self.error(
                        "MISSING_TRANSITION_TARGET",
                        format!("Missing 'Next' target: {target}"),
                        &format!("{at}/{field}"),
                    );
                }
            }
            terminal |= state.next.is_none() && !matches!(state.kind, Kind::Choice { .. });
        }
        if !definition.states.is_empty() && !terminal {
            self.error(
                "MISSING_TERMINAL_STATE",
                "No terminal state: no state ends with End, Succeed or Fail",
                at,
            );
        }
        let mut reached = BTreeSet::new();
        let mut queue = vec![definition.start_at.as_str()];
        while let Some(name) = queue.pop() {
            if !reached.insert(name) {
                continue;
            }
            if let Some(state) = definition.states.get(name) {
                queue.extend(transitions(state).into_iter().map(|(_, target)| target));
            }
        }
        for name in definition.states.keys() {
            if !reached.contains(name.as_str()) {
                self.error(
                    "UNREACHABLE_STATE",
                    format!("State '{name}' is not reachable"),
                    &format!("{at}/States/{name}"),
                );
            }
        }
    }

    pub(super) fn check_path(&mut self, path: &str, at: &str) {
        let ok = match path.strip_prefix('$') {
            Some(rest) if rest.starts_with('$') => path::is_valid(rest),
            _ => path::is_valid(path),
        };
        if !ok {
            self.error(
                "INVALID_JSON_PATH",
                format!("'{path}' is not a valid JSONPath"),
                at,
            );
        }
    }

    pub(super) fn check_template(&mut self, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let at = format!("{at}/{key}");
                    if key.ends_with(".$") {
                        match child.as_str() {
                            Some(text) if intrinsics::is_intrinsic(text) => {
                                if let Err(e) = intrinsics::validate(text) {
                                    self.error("SCHEMA_VALIDATION_FAILED", e, &at);
                                }
                            }
                            Some(text) => self.check_path(text, &at),
                            None => self.error(
                                "SCHEMA_VALIDATION_FAILED",
                                format!(
                                    "The value for the field '{key}' must be a path or an intrinsic function"
                                ),
                                &at,
                            ),
                        }
                    } else {
                        self.check_template(child, &at);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.check_template(item, &format!("{at}[{i}]"));
                }
            }
            _ => {}
        }
    }
}

/// Every state a state may go to next, with the field that names it.
pub(super) fn transitions(state: &State) -> Vec<(String, &str)> {
    let mut targets: Vec<(String, &str)> = state
        .next
        .iter()
        .map(|n| ("Next".to_owned(), n.as_str()))
        .collect();
    if let Kind::Choice { choices, default } = &state.kind {
        targets.extend(
            choices
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("Choices[{i}]/Next"), c.next.as_str())),
        );
        targets.extend(default.iter().map(|d| ("Default".to_owned(), d.as_str())));
    }
    targets.extend(
        state
            .catch
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("Catch[{i}]/Next"), c.next.as_str())),
    );
    targets
}
