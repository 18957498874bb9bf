//! The state machine definition: parsed from ASL JSON and validated as Step Functions does when
//! a state machine is created. Every problem is reported with its rule and its location.

use crate::{intrinsics, path};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct Definition {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub kind: Kind,
    /// The next state; `None` ends the machine (or branch).
    pub next: Option<String>,
    /// `None` is a `null` path: the state sees `{}` (InputPath) or outputs `{}` (OutputPath).
    pub input_path: Option<String>,
    pub output_path: Option<String>,
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    /// `None` is `null`: the result is discarded and the input passes through.
    pub result_path: Option<String>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task {
        resource: String,
        timeout: Option<Seconds>,
        heartbeat: Option<Seconds>,
    },
    Choice {
        choices: Vec<ChoiceRule>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Parallel {
        branches: Vec<Definition>,
    },
    Map {
        items_path: String,
        item_selector: Option<Value>,
        processor: Box<Definition>,
        max_concurrency: Option<Seconds>,
    },
}

impl Kind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Pass { .. } => "Pass",
            Kind::Task { .. } => "Task",
            Kind::Choice { .. } => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail { .. } => "Fail",
            Kind::Parallel { .. } => "Parallel",
            Kind::Map { .. } => "Map",
        }
    }
}

/// A number given in the definition or read from the input with a path.
#[derive(Debug, Clone)]
pub enum Seconds {
    Fixed(u64),
    Path(String),
}

/// A string given in the definition or computed with a path or intrinsic function.
#[derive(Debug, Clone)]
pub enum Text {
    Fixed(String),
    Path(String),
}

#[derive(Debug, Clone)]
pub enum WaitFor {
    Seconds(u64),
    SecondsPath(String),
    Timestamp(DateTime<Utc>),
    TimestampPath(String),
}

#[derive(Debug, Clone)]
pub struct Retrier {
    pub errors: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub full_jitter: bool,
}

#[derive(Debug, Clone)]
pub struct Catcher {
    pub errors: Vec<String>,
    pub next: String,
    pub result_path: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: String,
}

#[derive(Debug, Clone)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Test {
        variable: String,
        op: Op,
        operand: Operand,
    },
}

#[derive(Debug, Clone)]
pub enum Operand {
    Value(Value),
    Path(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

const OPS: [(&str, Op); 23] = [
    ("StringEquals", Op::StringEquals),
    ("StringLessThan", Op::StringLessThan),
    ("StringGreaterThan", Op::StringGreaterThan),
    ("StringLessThanEquals", Op::StringLessThanEquals),
    ("StringGreaterThanEquals", Op::StringGreaterThanEquals),
    ("StringMatches", Op::StringMatches),
    ("NumericEquals", Op::NumericEquals),
    ("NumericLessThan", Op::NumericLessThan),
    ("NumericGreaterThan", Op::NumericGreaterThan),
    ("NumericLessThanEquals", Op::NumericLessThanEquals),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals),
    ("BooleanEquals", Op::BooleanEquals),
    ("TimestampEquals", Op::TimestampEquals),
    ("TimestampLessThan", Op::TimestampLessThan),
    ("TimestampGreaterThan", Op::TimestampGreaterThan),
    ("TimestampLessThanEquals", Op::TimestampLessThanEquals),
    ("TimestampGreaterThanEquals", Op::TimestampGreaterThanEquals),
    ("IsNull", Op::IsNull),
    ("IsPresent", Op::IsPresent),
    ("IsNumeric", Op::IsNumeric),
    ("IsString", Op::IsString),
    ("IsBoolean", Op::IsBoolean),
    ("IsTimestamp", Op::IsTimestamp),
];

/// What a definition may not be, each with the rule's code and location, as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid State Machine Definition: '{}'", .0.join(", "))]
pub struct InvalidDefinition(pub Vec<String>);

/// Parses and validates a definition.
pub fn parse(text: &str) -> Result<Definition, InvalidDefinition> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| InvalidDefinition(vec![format!("INVALID_JSON_DESCRIPTION: {e}")]))?;
    let mut errors = Vec::new();
    let Some(object) = value.as_object() else {
        return Err(InvalidDefinition(vec![
            "SCHEMA_VALIDATION_FAILED: the definition must be a JSON object at /".into(),
        ]));
    };
    if let Some(language) = object.get("QueryLanguage").and_then(Value::as_str)
        && language != "JSONPath"
    {
        errors.push(format!(
            "SCHEMA_VALIDATION_FAILED: QueryLanguage {language} is not supported by this engine (JSONPath only) at /QueryLanguage"
        ));
    }
    let definition = Parser { errors: &mut errors }.machine(object, "");
    match definition {
        Some(definition) if errors.is_empty() => Ok(definition),
        _ => Err(InvalidDefinition(errors)),
    }
}

struct Parser<'e> {
    errors: &'e mut Vec<String>,
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
    fn error(&mut self, code: &str, message: impl std::fmt::Display, at: &str) {
        self.errors.push(format!("{code}: {message} at {at}"));
    }

    fn machine(&mut self, object: &Map<String, Value>, at: &str) -> Option<Definition> {
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

    /// Transitions lead to states of the same scope, every state is reachable, and the machine can end.
    fn check_graph(&mut self, definition: &Definition, raw: &Map<String, Value>, at: &str) {
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

    fn state(&mut self, name: &str, spec: &Value, at: &str) -> Option<State> {
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

    fn task(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
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

    fn choice(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
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

    fn condition(&mut self, rule: &Map<String, Value>, at: &str, top: bool) -> Option<Condition> {
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

    fn wait(&mut self, object: &Map<String, Value>, at: &str) -> Option<WaitFor> {
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

    fn map(&mut self, object: &Map<String, Value>, at: &str) -> Option<Kind> {
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

    fn seconds(
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

    fn positive(&mut self, value: &Value, at: &str) -> Option<u64> {
        match value.as_u64().filter(|n| *n > 0) {
            Some(n) => Some(n),
            None => {
                self.error("SCHEMA_VALIDATION_FAILED", "must be a positive integer", at);
                None
            }
        }
    }

    fn text(&mut self, object: &Map<String, Value>, key: &str, path_key: &str, at: &str) -> Option<Text> {
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

    fn path_field(&mut self, object: &Map<String, Value>, key: &str, at: &str) -> Option<String> {
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

    fn reference_field(&mut self, object: &Map<String, Value>, key: &str, at: &str) -> Option<String> {
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

    fn check_path(&mut self, path: &str, at: &str) {
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

    /// A payload template: every `.$` field holds a path or an intrinsic function.
    fn template(&mut self, object: &Map<String, Value>, key: &str, at: &str) -> Option<Value> {
        let value = object.get(key)?;
        self.check_template(value, &format!("{at}/{key}"));
        Some(value.clone())
    }

    fn check_template(&mut self, value: &Value, at: &str) {
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

    fn error_names(&mut self, value: Option<&Value>, last: bool, at: &str) -> Vec<String> {
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

    fn retriers(&mut self, object: &Map<String, Value>, at: &str) -> Vec<Retrier> {
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

    fn catchers(&mut self, object: &Map<String, Value>, at: &str) -> Vec<Catcher> {
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

/// Every state a state may go to next, with the field that names it.
fn transitions(state: &State) -> Vec<(String, &str)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => Vec::new(),
            Err(InvalidDefinition(errors)) => errors,
        }
    }

    fn has(text: &str, expected: &str) {
        let found = errors(text);
        assert!(
            found.iter().any(|e| e.contains(expected)),
            "expected {expected:?} in {found:?}"
        );
    }

    #[test]
    fn a_valid_definition_parses() {
        let text = r#"{"StartAt":"A","States":{
            "A":{"Type":"Pass","Next":"B"},
            "B":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericGreaterThan":1,"Next":"C"}],"Default":"D"},
            "C":{"Type":"Succeed"},
            "D":{"Type":"Fail","Error":"E","Cause":"c"}}}"#;
        assert_eq!(errors(text), Vec::<String>::new());
    }

    #[test]
    fn errors_name_the_state_and_the_rule() {
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nope"}}}"#,
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: Nope at /States/A/Next",
        );
        has(
            r#"{"StartAt":"Z","States":{"A":{"Type":"Pass","End":true}}}"#,
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: Z at /StartAt",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}"#,
            "UNREACHABLE_STATE: State 'B' is not reachable at /States/B",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}}}"#,
            "MISSING_TERMINAL_STATE",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true,
                "Catch":[{"ErrorEquals":["States.ALL"],"Next":"B"},{"ErrorEquals":["X"],"Next":"B"}]},"B":{"Type":"Succeed"}}}"#,
            "States.ALL must appear alone in ErrorEquals, in the last retrier or catcher at /States/A/Catch[0]/ErrorEquals",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass"}}}"#,
            "must have exactly one of 'Next' or 'End: true'",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Resource":"x"}}}"#,
            "The field 'Resource' is not supported by Pass states at /States/A/Resource",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Nope","End":true}}}"#,
            "'Nope' is not a valid state Type",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"ResultPath":"$.a[*]"}}}"#,
            "INVALID_REFERENCE_PATH",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Parameters":{"x.$":"States.Nope()"}}}}"#,
            "unknown intrinsic function",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Next":"J"}}}}}}"#,
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: J at /States/A/ItemProcessor/States/I/Next",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Wait","End":true}}}"#,
            "exactly one of Seconds",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","StringEquals":1,"Next":"A"}]}}}"#,
            "The value of 'StringEquals' has the wrong type",
        );
        has("[1]", "must be a JSON object");
        has("{", "INVALID_JSON_DESCRIPTION");
    }
}
