//! Reading a definition's JSON into the [model](super::model), field by field, as Step
//! Functions does when a state machine is created. Every problem is recorded with its rule and
//! its location, and parsing goes on, so that one error report names them all.

use super::model::*;
use crate::{intrinsics, path};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub(super) struct Parser<'e> {
    pub(super) errors: &'e mut Vec<String>,
}

const COMMON: &[&str] = &["Type", "Comment"];
const FLOW: &[&str] = &["Next", "End"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const RESULT: &[&str] = &["Parameters", "ResultSelector", "ResultPath", "Retry", "Catch"];

fn allowed_fields(kind: &str) -> Option<Vec<&'static str>> {
    let extra: &[&str] = match kind {
        "Pass" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "Result",
        ],
        "Task" => &[
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Choice" => &["Choices", "Default", "InputPath", "OutputPath"],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
        ],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &["Branches"],
        "Map" => &[
            "ItemsPath",
            "ItemSelector",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "Label",
        ],
        _ => return None,
    };
    let mut fields: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
    if matches!(kind, "Task" | "Parallel" | "Map") {
        fields.extend(FLOW.iter().chain(IO).chain(RESULT));
    }
    Some(fields)
}

impl Parser<'_> {
    pub(super) fn error(&mut self, code: &str, message: impl std::fmt::Display, at: &str) {
        self.errors.push(format!("{code}: {message} at {at}"));
    }

    pub(super) fn machine(&mut self, object: &Map<String, Value>, at: &str) -> Option<Definition> {
        for key in object.keys() {
            if ![
                "StartAt",
                "States",
                "Comment",
                "TimeoutSeconds",
                "Version",
                "QueryLanguage",
                "ProcessorConfig",
            ]
            .contains(&key.as_str())
            {
                self.error(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("The field '{key}' is not supported"),
                    at,
                );
            }
        }
        let start_at = match object.get("StartAt").and_then(Value::as_str) {
            Some(start) => start.to_owned(),
            None => {
                self.error("SCHEMA_VALIDATION_FAILED", "The field 'StartAt' is required", at);
                String::new()
            }
        };
        let Some(states_object) = object.get("States").and_then(Value::as_object) else {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "The field 'States' must be an object",
                at,
            );
            return None;
        };
        if states_object.is_empty() {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "'States' must not be empty",
                &format!("{at}/States"),
            );
        }
        let timeout_seconds = match object.get("TimeoutSeconds") {
            None => None,
            Some(value) => self.positive(value, &format!("{at}/TimeoutSeconds")),
        };
        let mut states = BTreeMap::new();
        for (name, spec) in states_object {
            let at = format!("{at}/States/{name}");
            if name.is_empty() || name.chars().count() > 80 {
                self.error(
                    "SCHEMA_VALIDATION_FAILED",
                    "State names must be 1 to 80 characters",
                    &at,
                );
            }
            if let Some(state) = self.state(name, spec, &at) {
                states.insert(name.clone(), state);
            }
        }
        let definition = Definition {
            start_at,
            states,
            timeout_seconds,
        };
        self.check_graph(&definition, states_object, at);
        Some(definition)
    }

    pub(super) fn state(&mut self, name: &str, spec: &Value, at: &str) -> Option<State> {
        let Some(object) = spec.as_object() else {
            self.error("SCHEMA_VALIDATION_FAILED", "A state must be an object", at);
            return None;
        };
        let kind_name = object.get("Type").and_then(Value::as_str).unwrap_or_default();
        let Some(fields) = allowed_fields(kind_name) else {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                format!("'{kind_name}' is not a valid state Type"),
                &format!("{at}/Type"),
            );
            return None;
        };
        for key in object.keys() {
            if !fields.contains(&key.as_str()) {
                self.error(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("The field '{key}' is not supported by {kind_name} states"),
                    &format!("{at}/{key}"),
                );
            }
        }
        let flows = matches!(kind_name, "Pass" | "Task" | "Wait" | "Parallel" | "Map");
        let next = object.get("Next").and_then(Value::as_str).map(str::to_owned);
        let end = object.get("End").and_then(Value::as_bool).unwrap_or(false);
        if flows && next.is_some() == end {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                format!("{kind_name} state '{name}' must have exactly one of 'Next' or 'End: true'"),
                at,
            );
        }
        let kind = match kind_name {
            "Pass" => Kind::Pass {
                result: object.get("Result").cloned(),
            },
            "Task" => self.task(object, at)?,
            "Choice" => self.choice(object, at)?,
            "Wait" => Kind::Wait(self.wait(object, at)?),
            "Succeed" => Kind::Succeed,
            "Fail" => Kind::Fail {
                error: self.text(object, "Error", "ErrorPath", at),
                cause: self.text(object, "Cause", "CausePath", at),
            },
            "Parallel" => {
                let branches = match object.get("Branches").and_then(Value::as_array) {
                    Some(branches) if !branches.is_empty() => branches,
                    _ => {
                        self.error(
                            "SCHEMA_VALIDATION_FAILED",
                            "'Branches' must be a non-empty array",
                            &format!("{at}/Branches"),
                        );
                        return None;
                    }
                };
                let mut parsed = Vec::new();
                for (i, branch) in branches.iter().enumerate() {
                    let at = format!("{at}/Branches[{i}]");
                    match branch.as_object() {
                        Some(branch) => parsed.extend(self.machine(branch, &at)),
                        None => self.error("SCHEMA_VALIDATION_FAILED", "A branch must be an object", &at),
                    }
                }
                Kind::Parallel { branches: parsed }
            }
            _ => self.map(object, at)?,
        };
        let state = State {
            name: name.to_owned(),
            next: if matches!(kind, Kind::Choice { .. }) {
                None
            } else {
                next
            },
            input_path: self.path_field(object, "InputPath", at),
            output_path: self.path_field(object, "OutputPath", at),
            parameters: self.template(object, "Parameters", at),
            result_selector: self.template(object, "ResultSelector", at),
            result_path: self.reference_field(object, "ResultPath", at),
            retry: self.retriers(object, at),
            catch: self.catchers(object, at),
            kind,
        };
        Some(state)
    }

    pub(super) fn task(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        let Some(resource) = object.get("Resource").and_then(Value::as_str) else {
            self.error("SCHEMA_VALIDATION_FAILED", "The field 'Resource' is required", at);
            return None;
        };
        if crate::invoke::Target::from_resource(resource).is_none() {
            self.error(
                "INVALID_RESOURCE",
                format!("The resource provided {resource} is not recognized (supported: Lambda function ARNs and arn:aws:states:::lambda:invoke)"),
                &format!("{at}/Resource"),
            );
        }
        let timeout = self.seconds(object, "TimeoutSeconds", "TimeoutSecondsPath", at);
        let heartbeat = self.seconds(object, "HeartbeatSeconds", "HeartbeatSecondsPath", at);
        if let (Some(Seconds::Fixed(timeout)), Some(Seconds::Fixed(heartbeat))) = (&timeout, &heartbeat)
            && heartbeat >= timeout
        {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "HeartbeatSeconds must be smaller than TimeoutSeconds",
                &format!("{at}/HeartbeatSeconds"),
            );
        }
        Some(Kind::Task {
            resource: resource.to_owned(),
            timeout,
            heartbeat,
        })
    }

    pub(super) fn choice(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        let Some(rules) = object
            .get("Choices")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
        else {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "'Choices' must be a non-empty array",
                &format!("{at}/Choices"),
            );
            return None;
        };
        let mut choices = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("{at}/Choices[{i}]");
            let Some(rule) = rule.as_object() else {
                self.error("SCHEMA_VALIDATION_FAILED", "A choice rule must be an object", &at);
                continue;
            };
            let Some(next) = rule.get("Next").and_then(Value::as_str) else {
                self.error(
                    "SCHEMA_VALIDATION_FAILED",
                    "A top-level choice rule must have 'Next'",
                    &at,
                );
                continue;
            };
            if let Some(condition) = self.condition(rule, &at, true) {
                choices.push(ChoiceRule {
                    condition,
                    next: next.to_owned(),
                });
            }
        }
        Some(Kind::Choice {
            choices,
            default: object.get("Default").and_then(Value::as_str).map(str::to_owned),
        })
    }

    pub(super) fn condition(&mut self, rule: &Map<String, Value>, at: &str, top: bool) -> Option<Condition> {
        let mut found = Vec::new();
        for key in rule.keys() {
            match key.as_str() {
                "Next" if top => {}
                "Comment" | "Variable" => {}
                "And" | "Or" | "Not" => found.push(key.clone()),
                other => {
                    let base = other.strip_suffix("Path").unwrap_or(other);
                    if OPS.iter().any(|(name, _)| *name == base)
                        && !(other.ends_with("Path") && base.starts_with("Is"))
                    {
                        found.push(key.clone());
                    } else {
                        self.error(
                            "SCHEMA_VALIDATION_FAILED",
                            format!("The field '{other}' is not supported in a choice rule"),
                            &format!("{at}/{other}"),
                        );
                    }
                }
            }
        }
        if found.len() != 1 {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "A choice rule must have exactly one comparison operator, And, Or or Not",
                at,
            );
            return None;
        }
        let key = found.remove(0);
        let value = &rule[&key];
        match key.as_str() {
            "And" | "Or" => {
                let Some(items) = value.as_array().filter(|items| !items.is_empty()) else {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("'{key}' must be a non-empty array"),
                        &format!("{at}/{key}"),
                    );
                    return None;
                };
                let mut conditions = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{at}/{key}[{i}]");
                    match item.as_object() {
                        Some(item) => conditions.extend(self.condition(item, &at, false)),
                        None => {
                            self.error("SCHEMA_VALIDATION_FAILED", "a choice rule must be an object", &at)
                        }
                    }
                }
                Some(if key == "And" {
                    Condition::And(conditions)
                } else {
                    Condition::Or(conditions)
                })
            }
            "Not" => {
                let Some(inner) = value.as_object() else {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        "'Not' must be an object",
                        &format!("{at}/Not"),
                    );
                    return None;
                };
                Some(Condition::Not(Box::new(self.condition(
                    inner,
                    &format!("{at}/Not"),
                    false,
                )?)))
            }
            _ => {
                let Some(variable) = rule.get("Variable").and_then(Value::as_str) else {
                    self.error("SCHEMA_VALIDATION_FAILED", "A comparison needs 'Variable'", at);
                    return None;
                };
                self.check_path(variable, &format!("{at}/Variable"));
                let (base, by_path) = match key.strip_suffix("Path") {
                    Some(base) => (base, true),
                    None => (key.as_str(), false),
                };
                let op = OPS.iter().find(|(name, _)| *name == base).map(|(_, op)| *op)?;
                let operand = if by_path {
                    let Some(path) = value.as_str() else {
                        self.error(
                            "SCHEMA_VALIDATION_FAILED",
                            format!("'{key}' must be a path"),
                            &format!("{at}/{key}"),
                        );
                        return None;
                    };
                    self.check_path(path, &format!("{at}/{key}"));
                    Operand::Path(path.to_owned())
                } else {
                    let ok = match op {
                        Op::StringEquals
                        | Op::StringLessThan
                        | Op::StringGreaterThan
                        | Op::StringLessThanEquals
                        | Op::StringGreaterThanEquals
                        | Op::StringMatches => value.is_string(),
                        Op::NumericEquals
                        | Op::NumericLessThan
                        | Op::NumericGreaterThan
                        | Op::NumericLessThanEquals
                        | Op::NumericGreaterThanEquals => value.is_number(),
                        Op::TimestampEquals
                        | Op::TimestampLessThan
                        | Op::TimestampGreaterThan
                        | Op::TimestampLessThanEquals
                        | Op::TimestampGreaterThanEquals => value
                            .as_str()
                            .is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok()),
                        _ => value.is_boolean(),
                    };
                    if !ok {
                        self.error(
                            "SCHEMA_VALIDATION_FAILED",
                            format!("The value of '{key}' has the wrong type"),
                            &format!("{at}/{key}"),
                        );
                    }
                    Operand::Value(value.clone())
                };
                Some(Condition::Test {
                    variable: variable.to_owned(),
                    op,
                    operand,
                })
            }
        }
    }

    pub(super) fn wait(&mut self, object: &Map<String, Value>, at: &str) -> Option<WaitFor> {
        let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|key| object.contains_key(*key))
            .collect();
        if given.len() != 1 {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "A Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
                at,
            );
            return None;
        }
        let value = &object[given[0]];
        let at = format!("{at}/{}", given[0]);
        match given[0] {
            "Seconds" => match value.as_u64() {
                Some(seconds) => Some(WaitFor::Seconds(seconds)),
                None => {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        "'Seconds' must be a non-negative integer",
                        &at,
                    );
                    None
                }
            },
            "Timestamp" => match value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
                Some(ts) => Some(WaitFor::Timestamp(ts.with_timezone(&Utc))),
                None => {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        "'Timestamp' must be an ISO 8601 timestamp",
                        &at,
                    );
                    None
                }
            },
            key => {
                let path = value.as_str().unwrap_or_default().to_owned();
                self.check_path(&path, &at);
                Some(if key == "SecondsPath" {
                    WaitFor::SecondsPath(path)
                } else {
                    WaitFor::TimestampPath(path)
                })
            }
        }
    }

    pub(super) fn map(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
        let processor_key = if object.contains_key("ItemProcessor") {
            "ItemProcessor"
        } else {
            "Iterator"
        };
        let Some(processor) = object.get(processor_key).and_then(Value::as_object) else {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "A Map state needs 'ItemProcessor' (or 'Iterator')",
                at,
            );
            return None;
        };
        if processor
            .get("ProcessorConfig")
            .and_then(|config| config.get("Mode"))
            .and_then(Value::as_str)
            .is_some_and(|mode| mode != "INLINE")
        {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "Only inline Map states are supported",
                &format!("{at}/{processor_key}/ProcessorConfig"),
            );
        }
        if object.contains_key("ItemSelector") && object.contains_key("Parameters") {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "'ItemSelector' and 'Parameters' can't both be used",
                at,
            );
        }
        let processor = self.machine(processor, &format!("{at}/{processor_key}"))?;
        let items_path = match object.get("ItemsPath") {
            None => "$".to_owned(),
            Some(Value::String(path)) => {
                if path::RefPath::parse(path).is_none() {
                    self.error(
                        "INVALID_REFERENCE_PATH",
                        format!("'{path}' is not a reference path"),
                        &format!("{at}/ItemsPath"),
                    );
                }
                path.clone()
            }
            Some(_) => {
                self.error(
                    "SCHEMA_VALIDATION_FAILED",
                    "'ItemsPath' must be a string",
                    &format!("{at}/ItemsPath"),
                );
                "$".to_owned()
            }
        };
        // In a Map state, the legacy 'Parameters' field is the item selector.
        let item_selector = self
            .template(object, "ItemSelector", at)
            .or_else(|| object.get("Parameters").cloned());
        Some(Kind::Map {
            items_path,
            item_selector,
            processor: Box::new(processor),
            max_concurrency: self.seconds(object, "MaxConcurrency", "MaxConcurrencyPath", at),
        })
    }

    pub(super) fn seconds(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        path_key: &str,
        at: &str,
    ) -> Option<Seconds> {
        match (object.get(key), object.get(path_key)) {
            (Some(_), Some(_)) => {
                self.error(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' and '{path_key}' can't both be used"),
                    at,
                );
                None
            }
            (Some(value), None) => {
                let at = format!("{at}/{key}");
                if key == "MaxConcurrency" {
                    match value.as_u64() {
                        Some(n) => Some(Seconds::Fixed(n)),
                        None => {
                            self.error(
                                "SCHEMA_VALIDATION_FAILED",
                                format!("'{key}' must be a non-negative integer"),
                                &at,
                            );
                            None
                        }
                    }
                } else {
                    self.positive(value, &at).map(Seconds::Fixed)
                }
            }
            (None, Some(path)) => {
                let path = path.as_str().unwrap_or_default().to_owned();
                self.check_path(&path, &format!("{at}/{path_key}"));
                Some(Seconds::Path(path))
            }
            (None, None) => None,
        }
    }

    pub(super) fn positive(&mut self, value: &Value, at: &str) -> Option<u64> {
        match value.as_u64().filter(|n| *n > 0) {
            Some(n) => Some(n),
            None => {
                self.error("SCHEMA_VALIDATION_FAILED", "must be a positive integer", at);
                None
            }
        }
    }

    pub(super) fn text(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        path_key: &str,
        at: &str,
    ) -> Option<Text> {
        match (object.get(key), object.get(path_key)) {
            (Some(_), Some(_)) => {
                self.error(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' and '{path_key}' can't both be used"),
                    at,
                );
                None
            }
            (Some(value), None) => Some(Text::Fixed(value.as_str().unwrap_or_default().to_owned())),
            (None, Some(path)) => {
                let path = path.as_str().unwrap_or_default().to_owned();
                if intrinsics::is_intrinsic(&path) {
                    if let Err(e) = intrinsics::validate(&path) {
                        self.error("SCHEMA_VALIDATION_FAILED", e, &format!("{at}/{path_key}"));
                    }
                } else {
                    self.check_path(&path, &format!("{at}/{path_key}"));
                }
                Some(Text::Path(path))
            }
            (None, None) => None,
        }
    }

    pub(super) fn path_field(&mut self, object: &Map<String, Value>, key: &str, at: &str) -> Option<String> {
        match object.get(key) {
            None => Some("$".to_owned()),
            Some(Value::Null) => None,
            Some(Value::String(path)) => {
                self.check_path(path, &format!("{at}/{key}"));
                Some(path.clone())
            }
            Some(_) => {
                self.error(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("'{key}' must be a path or null"),
                    &format!("{at}/{key}"),
                );
                None
            }
        }
    }

    pub(super) fn reference_field(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        at: &str,
    ) -> Option<String> {
        let path = self.path_field(object, key, at)?;
        if path::RefPath::parse(&path).is_none() {
            self.error(
                "INVALID_REFERENCE_PATH",
                format!("'{path}' is not a reference path"),
                &format!("{at}/{key}"),
            );
        }
        Some(path)
    }

    /// A payload template: every `.$` field holds a path or an intrinsic function.
    pub(super) fn template(&mut self, object: &Map<String, Value>, key: &str, at: &str) -> Option<Value> {
        let value = object.get(key)?;
        self.check_template(value, &format!("{at}/{key}"));
        Some(value.clone())
    }

    pub(super) fn error_names(&mut self, value: Option<&Value>, last: bool, at: &str) -> Vec<String> {
        let names: Vec<String> = value
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "'ErrorEquals' must be a non-empty array of strings",
                &format!("{at}/ErrorEquals"),
            );
        }
        if names.iter().any(|n| n == crate::error::ALL) && (names.len() > 1 || !last) {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "States.ALL must appear alone in ErrorEquals, in the last retrier or catcher",
                &format!("{at}/ErrorEquals"),
            );
        }
        names
    }

    pub(super) fn retriers(&mut self, object: &Map<String, Value>, at: &str) -> Vec<Retrier> {
        let Some(list) = object.get("Retry") else {
            return Vec::new();
        };
        let Some(list) = list.as_array() else {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "'Retry' must be an array",
                &format!("{at}/Retry"),
            );
            return Vec::new();
        };
        let mut retriers = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let at = format!("{at}/Retry[{i}]");
            let Some(item) = item.as_object() else {
                self.error("SCHEMA_VALIDATION_FAILED", "a retrier must be an object", &at);
                continue;
            };
            for key in item.keys() {
                if ![
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ]
                .contains(&key.as_str())
                {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("The field '{key}' is not supported in a retrier"),
                        &format!("{at}/{key}"),
                    );
                }
            }
            let errors = self.error_names(item.get("ErrorEquals"), i + 1 == list.len(), &at);
            let number = |key: &str| item.get(key).map(|v| v.as_f64());
            let interval_seconds = match number("IntervalSeconds") {
                None => 1.0,
                Some(Some(n)) if n >= 1.0 && n.fract() == 0.0 => n,
                Some(_) => {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        "'IntervalSeconds' must be a positive integer",
                        &format!("{at}/IntervalSeconds"),
                    );
                    1.0
                }
            };
            let max_attempts = match item.get("MaxAttempts").map(Value::as_u64) {
                None => 3,
                Some(Some(n)) if n <= 99_999_999 => n as u32,
                Some(_) => {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        "'MaxAttempts' must be a non-negative integer",
                        &format!("{at}/MaxAttempts"),
                    );
                    3
                }
            };
            let backoff_rate = match number("BackoffRate") {
                None => 2.0,
                Some(Some(n)) if n >= 1.0 => n,
                Some(_) => {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        "'BackoffRate' must be at least 1.0",
                        &format!("{at}/BackoffRate"),
                    );
                    2.0
                }
            };
            let max_delay_seconds = match number("MaxDelaySeconds") {
                None => None,
                Some(Some(n)) if n > 0.0 => Some(n),
                Some(_) => {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        "'MaxDelaySeconds' must be positive",
                        &format!("{at}/MaxDelaySeconds"),
                    );
                    None
                }
            };
            let full_jitter = match item.get("JitterStrategy").map(Value::as_str) {
                None | Some(Some("NONE")) => false,
                Some(Some("FULL")) => true,
                Some(_) => {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        "'JitterStrategy' must be FULL or NONE",
                        &format!("{at}/JitterStrategy"),
                    );
                    false
                }
            };
            retriers.push(Retrier {
                errors,
                interval_seconds,
                max_attempts,
                backoff_rate,
                max_delay_seconds,
                full_jitter,
            });
        }
        retriers
    }

    pub(super) fn catchers(&mut self, object: &Map<String, Value>, at: &str) -> Vec<Catcher> {
        let Some(list) = object.get("Catch") else {
            return Vec::new();
        };
        let Some(list) = list.as_array() else {
            self.error(
                "SCHEMA_VALIDATION_FAILED",
                "'Catch' must be an array",
                &format!("{at}/Catch"),
            );
            return Vec::new();
        };
        let mut catchers = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let at = format!("{at}/Catch[{i}]");
            let Some(item) = item.as_object() else {
                self.error("SCHEMA_VALIDATION_FAILED", "a catcher must be an object", &at);
                continue;
            };
            for key in item.keys() {
                if !["ErrorEquals", "Next", "ResultPath", "Comment"].contains(&key.as_str()) {
                    self.error(
                        "SCHEMA_VALIDATION_FAILED",
                        format!("The field '{key}' is not supported in a catcher"),
                        &format!("{at}/{key}"),
                    );
                }
            }
            let errors = self.error_names(item.get("ErrorEquals"), i + 1 == list.len(), &at);
            let Some(next) = item.get("Next").and_then(Value::as_str) else {
                self.error("SCHEMA_VALIDATION_FAILED", "A catcher needs 'Next'", &at);
                continue;
            };
            catchers.push(Catcher {
                errors,
                next: next.to_owned(),
                result_path: self.reference_field(item, "ResultPath", &at),
            });
        }
        catchers
    }
}
