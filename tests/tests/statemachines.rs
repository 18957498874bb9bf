//! Checks on `statemachines/`: the contract between the definitions and the step functions.

use sbx_e2e::root;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Every definition, by file name.
fn definitions() -> Vec<(String, Value)> {
    let dir = root().join("statemachines");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(".asl.json"))
        .collect();
    files.sort();
    let definitions: Vec<(String, Value)> = files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                name,
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
        })
        .collect();
    let names: Vec<&str> = definitions.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "create.asl.json",
            "deadlines.asl.json",
            "delete.asl.json",
            "deliver.asl.json",
            "gc.asl.json",
            "start.asl.json",
            "stop.asl.json"
        ]
    );
    definitions
}

/// Every state of a definition, nested ones (Parallel branches, Map processors) included.
fn states(definition: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some(map) = definition["States"].as_object() {
        for (name, state) in map {
            out.push((name.clone(), state.clone()));
            for branch in state["Branches"].as_array().into_iter().flatten() {
                out.extend(states(branch));
            }
            for key in ["ItemProcessor", "Iterator"] {
                if state[key].is_object() {
                    out.extend(states(&state[key]));
                }
            }
        }
    }
    out
}

fn error_names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .flat_map(|entry| entry["ErrorEquals"].as_array().into_iter().flatten())
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_task_retries_transient_errors_and_catches_into_a_failure_branch() {
    for (file, definition) in definitions() {
        for (name, state) in states(&definition) {
            if state["Type"] != "Task" {
                continue;
            }
            let retried = error_names(&state["Retry"]);
            assert!(
                retried.iter().any(|e| e == "Sbx.Transient"),
                "{file}/{name}: no Retry for Sbx.Transient"
            );
            for lambda in [
                "Lambda.TooManyRequestsException",
                "Lambda.ServiceException",
                "Lambda.SdkClientException",
                "Lambda.Unknown",
                "States.Timeout",
            ] {
                assert!(
                    retried.iter().any(|e| e == lambda),
                    "{file}/{name}: no Retry for Lambda's own failure {lambda}"
                );
            }
            // A Task waits no longer than its function may run, and a little more: a lost
            // invocation ends in States.Timeout (retried) rather than the execution's timeout.
            let timeout = state["TimeoutSeconds"].as_u64();
            assert!(
                timeout.is_some_and(|t| (30..=1000).contains(&t)),
                "{file}/{name}: a Task needs TimeoutSeconds, not {timeout:?}"
            );
            if !file.starts_with("deliver") {
                assert!(
                    retried.iter().any(|e| e == "Sbx.NotYet"),
                    "{file}/{name}: no Retry for Sbx.NotYet (AWS not caught up yet)"
                );
            }
            for retrier in state["Retry"].as_array().into_iter().flatten() {
                assert!(
                    retrier["BackoffRate"].as_f64().is_some_and(|r| r > 1.0),
                    "{file}/{name}: retry without backoff"
                );
            }
            let catchers = state["Catch"].as_array().cloned().unwrap_or_default();
            assert!(!catchers.is_empty(), "{file}/{name}: no Catch");
            let last = catchers.last().map(|c| c["ErrorEquals"].clone());
            assert_eq!(
                last,
                Some(serde_json::json!(["States.ALL"])),
                "{file}/{name}: the last Catch takes every error"
            );
        }
    }
}

#[test]
fn the_error_names_of_the_definitions_are_those_the_step_functions_emit() {
    let mut used = BTreeSet::new();
    for (_, definition) in definitions() {
        for (_, state) in states(&definition) {
            for list in [&state["Retry"], &state["Catch"]] {
                used.extend(
                    error_names(list)
                        .into_iter()
                        .filter(|name| name.starts_with("Sbx.")),
                );
            }
        }
    }
    let emitted: BTreeSet<String> = sbx_steps::StepError::NAMES
        .iter()
        .chain(sbx_notify::NotifyError::NAMES.iter())
        .map(|n| n.to_string())
        .collect();
    assert_eq!(used, emitted);
}

#[test]
fn every_task_calls_a_step_function_that_exists() {
    let mut called = BTreeSet::new();
    let functions: Vec<(&str, String)> = sbx_steps::FUNCTIONS
        .iter()
        .chain(sbx_notify::FUNCTIONS.iter())
        .map(|f| (*f, format!("${{{}}}", sbx_stack::substitution_name(f))))
        .collect();
    for (file, definition) in definitions() {
        for (name, state) in states(&definition) {
            if state["Type"] != "Task" {
                continue;
            }
            let resource = state["Resource"].as_str().unwrap_or_default();
            let function = functions
                .iter()
                .find(|(_, placeholder)| placeholder == resource)
                .map(|(f, _)| *f)
                .unwrap_or_else(|| panic!("{file}/{name}: {resource} is no step function"));
            called.insert(function);
        }
    }
    let all: BTreeSet<&str> = sbx_steps::FUNCTIONS
        .iter()
        .copied()
        .chain(sbx_notify::FUNCTIONS)
        .collect();
    assert_eq!(called, all, "every step function is used by some workflow");
    for function in all {
        let package = if sbx_notify::FUNCTIONS.contains(&function) {
            "notify"
        } else {
            "steps"
        };
        let binary = root().join(format!("functions/{package}/src/bin/{function}.rs"));
        assert!(
            binary.is_file(),
            "{function} has no Lambda binary at {}",
            binary.display()
        );
    }
}

#[test]
fn every_wait_loop_is_bounded_by_a_counter() {
    for (file, definition) in definitions() {
        let all = states(&definition);
        for (name, state) in &all {
            if state["Type"] != "Choice" {
                continue;
            }
            let leads_to_wait = state["Default"]
                .as_str()
                .and_then(|next| all.iter().find(|(n, _)| n == next))
                .is_some_and(|(_, next)| next["Type"] == "Wait");
            if !leads_to_wait {
                continue;
            }
            let bounded = state["Choices"].as_array().into_iter().flatten().any(|rule| {
                rule["Variable"] == "$.poll.count"
                    && rule["NumericGreaterThanEquals"].as_u64().is_some_and(|n| n > 0)
            });
            assert!(bounded, "{file}/{name}: a wait loop without a bound");
        }
    }
}

#[test]
fn the_definitions_are_valid_for_the_local_engine() {
    let substitutions = sbx_steps::FUNCTIONS
        .iter()
        .chain(sbx_notify::FUNCTIONS.iter())
        .map(|f| (sbx_stack::substitution_name(f), sbx_stack::function_arn(f)))
        .collect();
    for (file, definition) in definitions() {
        let text = sbx_sfn_local::service::substitute(&definition.to_string(), &substitutions)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        if let Err(e) = sbx_sfn_local::asl::parse(&text) {
            panic!("{file}: {e}");
        }
    }
}
