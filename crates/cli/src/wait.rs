//! `--wait`: follows a sandbox until its operation ends, reading the record (one GET a poll; the
//! API reads only the newest events of the execution for its `progress`), and shows the
//! operation's current workflow step, the steps done so far and the elapsed time as a live
//! display on a terminal. No display when stderr is not a terminal or `NO_COLOR` is set.

use crate::api::{Api, CliError};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// States in which an operation is still running.
const RUNNING: [&str; 4] = ["initializing", "starting", "stopping", "deleting"];

/// How long to wait between polls: `SBX_WAIT_INTERVAL_MS`, default 2 s.
fn interval() -> Duration {
    std::env::var("SBX_WAIT_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(2))
}

/// Whether to draw the live display.
pub fn live() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Polls `path` until the record leaves its running state; returns the record as it ended (a
/// deleted sandbox that is no longer found ends as its last record with state `deleted`).
pub async fn follow(api: &mut Api, path: &str, first: &Value) -> Result<Value, CliError> {
    let began = Instant::now();
    let bar = live().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut record = first.clone();
    let mut steps = Steps::default();
    loop {
        let state = record["state"].as_str().unwrap_or_default().to_owned();
        if let Some(step) = record["progress"]["step"].as_str() {
            steps.reached(step);
        }
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "{} {}: {}",
                record["id"].as_str().unwrap_or_default(),
                describe(&record),
                steps.line()
            ));
        }
        if !RUNNING.contains(&state.as_str()) {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
                eprintln!(
                    "{} {} after {:.0} s",
                    record["id"].as_str().unwrap_or_default(),
                    state,
                    began.elapsed().as_secs_f64()
                );
            }
            return Ok(record);
        }
        tokio::time::sleep(interval()).await;
        record = match api.get(path).await {
            Ok(record) => record,
            Err(CliError::Problem { status: 404, .. }) if state == "deleting" => {
                let mut gone = record.clone();
                gone["state"] = Value::from("deleted");
                gone
            }
            Err(err) => {
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                return Err(err);
            }
        };
    }
}

/// What the record says of the running operation.
fn describe(record: &Value) -> String {
    match (record["progress"]["operation"].as_str(), record["state"].as_str()) {
        (Some(operation), _) => operation.to_owned(),
        (None, Some(state)) => state.to_owned(),
        (None, None) => "unknown".to_owned(),
    }
}

/// The workflow steps seen so far: the current one, and those before it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Steps {
    pub done: Vec<String>,
    pub current: Option<String>,
}

impl Steps {
    /// The poll saw `step`: a new one moves the current one to the done.
    pub fn reached(&mut self, step: &str) {
        if self.current.as_deref() == Some(step) {
            return;
        }
        if let Some(previous) = self.current.replace(step.to_owned()) {
            self.done.push(previous);
        }
    }

    /// `LaunchInstances (5 steps done: …, CreateNetwork)`.
    pub fn line(&self) -> String {
        let current = self.current.as_deref().unwrap_or("starting");
        match self.done.last() {
            None => current.to_owned(),
            Some(last) => format!("{current} ({} steps done, last {last})", self.done.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_move_on_as_the_polls_see_new_ones() {
        let mut steps = Steps::default();
        assert_eq!(steps.line(), "starting");
        for step in [
            "MarkInitializing",
            "MarkInitializing",
            "AllocateAccount",
            "LaunchInstances",
        ] {
            steps.reached(step);
        }
        assert_eq!(steps.done, ["MarkInitializing", "AllocateAccount"]);
        assert_eq!(
            steps.line(),
            "LaunchInstances (2 steps done, last AllocateAccount)"
        );
    }
}
