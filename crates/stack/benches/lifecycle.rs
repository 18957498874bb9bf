//! What a lifecycle costs (`cargo bench -p sbx-stack`): for each workflow, run by the local
//! engine with no waiting (time scale 0) against moto, the wall time from start to end, the
//! state transitions (what Standard workflows are billed by) and the Lambda invocations.
//! Printed as a table; the median of `ROUNDS` sandboxes, one after another.

use sbx_sfn_local::service::Status;
use sbx_stack::{LocalStack, Options, state_machine_arn};
use serde_json::json;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;

struct Figures {
    wall: Vec<Duration>,
    transitions: Vec<usize>,
    invocations: Vec<usize>,
}

fn median<T: Copy + Ord>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

#[tokio::main]
async fn main() {
    let options = Options {
        time_scale: 0.0,
        // No waiting, so moto's instant transitions.
        aws_delay: std::time::Duration::ZERO,
        pool_size: 2,
        ..Options::default()
    };
    let stack = match LocalStack::start(options).await {
        Ok(stack) => stack,
        Err(err) => {
            eprintln!("the local stack did not start: {err}");
            std::process::exit(1);
        }
    };
    let workflows = ["create", "stop", "start", "delete"];
    let mut figures: Vec<Figures> = workflows
        .iter()
        .map(|_| Figures {
            wall: Vec::new(),
            transitions: Vec::new(),
            invocations: Vec::new(),
        })
        .collect();
    for round in 0..ROUNDS {
        let sandbox = format!("bench-{round}");
        for (i, workflow) in workflows.iter().enumerate() {
            let mut input = json!({"tenant": "bench", "sandbox_id": sandbox});
            if *workflow == "create" {
                input["amq"] = json!(true);
                input["constellations"] = json!(["payments"]);
            }
            let began = Instant::now();
            let execution = stack.service.start_execution(
                &state_machine_arn(workflow),
                Some(&format!("{sandbox}-{workflow}")),
                Some(&input.to_string()),
            );
            let execution = match execution {
                Ok(execution) => execution,
                Err(err) => {
                    eprintln!("{workflow}: {err}");
                    std::process::exit(1);
                }
            };
            let outcome = execution.finished().await;
            let wall = began.elapsed();
            if outcome.status != Status::Succeeded {
                eprintln!(
                    "{workflow} of {sandbox} ended {:?}: {:?} {:?}",
                    outcome.status, outcome.error, outcome.cause
                );
                std::process::exit(1);
            }
            let events = execution.history.events();
            figures[i].wall.push(wall);
            figures[i]
                .transitions
                .push(events.iter().filter(|e| e.kind.ends_with("StateEntered")).count());
            figures[i].invocations.push(
                events
                    .iter()
                    .filter(|e| e.kind == "LambdaFunctionScheduled" || e.kind == "TaskScheduled")
                    .count(),
            );
        }
    }
    println!("lifecycle workflows, local engine at time scale 0 against moto, median of {ROUNDS}:");
    println!(
        "{:<8} {:>12} {:>18} {:>20}",
        "workflow", "wall (ms)", "state transitions", "Lambda invocations"
    );
    for (workflow, f) in workflows.iter().zip(&figures) {
        println!(
            "{:<8} {:>12.1} {:>18} {:>20}",
            workflow,
            median(&f.wall).as_secs_f64() * 1000.0,
            median(&f.transitions),
            median(&f.invocations)
        );
    }
    stack.stop();
}
