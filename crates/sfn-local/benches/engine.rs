//! Engine throughput, printed as figures (`cargo bench -p sbx-sfn-local`).
//!
//! - executions per second and state transitions per second on a long Pass/Choice chain and on
//!   a Map over 100 items;
//! - invoker overhead per Task: an in-process handler, and a real executable behind the Lambda
//!   Runtime API (the `lambda-fixture` binary, built on demand).

use sbx_sfn_local::service::Status;
use sbx_sfn_local::{Engine, Functions, RuntimeFunction, Service};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn chain(length: usize) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..length {
        let next = if i + 1 < length {
            json!(format!("P{}", i + 1))
        } else {
            Value::Null
        };
        let pass = json!({"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)", "tag": "x"}, "Next": format!("C{i}")});
        let mut choice = json!({"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericLessThan": 0, "Next": "Never"}]});
        match next {
            Value::Null => choice["Default"] = json!("Done"),
            next => choice["Default"] = next,
        }
        states.insert(format!("P{i}"), pass);
        states.insert(format!("C{i}"), choice);
    }
    states.insert("Never".into(), json!({"Type": "Fail", "Error": "Never"}));
    states.insert("Done".into(), json!({"Type": "Succeed"}));
    json!({"StartAt": "P0", "States": states})
}

fn map(items: usize) -> (Value, Value) {
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
        "ItemSelector": {"n.$": "$$.Map.Item.Value"},
        "ItemProcessor": chain(5),
        "End": true
    }}});
    let input = json!({"items": (0..items).collect::<Vec<_>>()});
    (definition, input)
}

fn tasks(count: usize, function: &str) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..count {
        let mut task = json!({"Type": "Task", "Resource": format!("arn:aws:lambda:us-east-1:123456789012:function:{function}")});
        if i + 1 < count {
            task["Next"] = json!(format!("T{}", i + 1));
        } else {
            task["End"] = json!(true);
        }
        states.insert(format!("T{i}"), task);
    }
    json!({"StartAt": "T0", "States": states})
}

struct Figures {
    executions: usize,
    transitions: usize,
    elapsed: Duration,
}

async fn measure(
    service: &Service,
    name: &str,
    definition: &Value,
    input: &Value,
    executions: usize,
    concurrency: usize,
) -> Figures {
    let machine = service
        .create_state_machine(name, &definition.to_string(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let mut transitions = 0;
    for batch in (0..executions).collect::<Vec<_>>().chunks(concurrency) {
        let runs: Vec<_> = batch
            .iter()
            .map(|_| {
                service
                    .start_execution(&machine.arn, None, Some(&input.to_string()))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        for execution in runs {
            let outcome = execution.finished().await;
            assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
            transitions += execution
                .history
                .events()
                .iter()
                .filter(|event| event.kind.ends_with("StateEntered"))
                .count();
        }
    }
    Figures {
        executions,
        transitions,
        elapsed: started.elapsed(),
    }
}

fn fixture() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = dir.join("lambda-fixture");
    if !path.is_file() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--release", "-p", "sbx-lambda-fixture"])
            .status()
            .unwrap_or_else(|e| panic!("cannot build the fixture: {e}"));
        assert!(status.success());
    }
    path
}

#[tokio::main]
async fn main() {
    let functions = Functions::new();
    functions.handler("echo", |event: Value| async move { Ok(event) });
    let runtime = RuntimeFunction::new("bootstrap", fixture(), "us-east-1", "123456789012");
    functions.register("bootstrap", Arc::new(runtime.clone()));
    let service = Service::new(Engine {
        functions,
        time_scale: 0.0,
        region: "us-east-1".into(),
    });

    println!(
        "{:<44} {:>10} {:>12} {:>14} {:>16}",
        "workload", "executions", "seconds", "executions/s", "transitions/s"
    );
    let row = |name: &str, f: &Figures| {
        let secs = f.elapsed.as_secs_f64();
        println!(
            "{:<44} {:>10} {:>12.3} {:>14.1} {:>16.0}",
            name,
            f.executions,
            secs,
            f.executions as f64 / secs,
            f.transitions as f64 / secs
        );
    };
    let chain = chain(100);
    row(
        "Pass/Choice chain, 200 states, sequential",
        &measure(&service, "chain-seq", &chain, &json!({"n": 0}), 50, 1).await,
    );
    row(
        "Pass/Choice chain, 200 states, 8 at a time",
        &measure(&service, "chain-par", &chain, &json!({"n": 0}), 200, 8).await,
    );
    let (definition, input) = map(100);
    row(
        "Map of 100 items x 10 states",
        &measure(&service, "map", &definition, &input, 20, 1).await,
    );

    println!();
    println!("{:<44} {:>10} {:>16}", "invoker", "tasks", "overhead/task");
    for (name, function) in [
        ("in-process handler", "echo"),
        ("executable via Runtime API (warm)", "bootstrap"),
    ] {
        let definition = tasks(100, function);
        // One run to warm the function, then the measured ones.
        measure(
            &service,
            &format!("warm-{function}"),
            &definition,
            &json!({"v": 1}),
            1,
            1,
        )
        .await;
        let figures = measure(
            &service,
            &format!("tasks-{function}"),
            &definition,
            &json!({"v": 1}),
            10,
            1,
        )
        .await;
        let per_task = figures.elapsed / (figures.executions as u32 * 100);
        println!(
            "{:<44} {:>10} {:>13.1} µs",
            name,
            figures.executions * 100,
            per_task.as_secs_f64() * 1e6
        );
    }
    let cold: Vec<f64> = runtime
        .cold_starts()
        .iter()
        .map(|c| c.init_duration.as_secs_f64() * 1000.0)
        .collect();
    println!();
    println!(
        "Runtime API cold starts: {} (init {:?} ms)",
        cold.len(),
        cold.iter()
            .map(|ms| (ms * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
}
