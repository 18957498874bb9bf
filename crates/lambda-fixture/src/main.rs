//! A Lambda function built on `lambda_runtime`, for testing the engine's Runtime API invoker.
//! What it does is chosen by the event's `action`:
//! - `echo`: returns the event;
//! - `pid`: returns this process's id (shows whether a warm process was reused);
//! - `fail`: fails with the event's `errorType` and `message`;
//! - `flaky`: fails with `Flaky.Error` while the counter file `counter` holds fewer than `failures`
//!   previous calls, then succeeds;
//! - `sleep`: waits `ms` milliseconds, then returns the event;
//! - `exit`: ends the process without answering.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn text(event: &Value, key: &str) -> String {
    event
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let payload = event.payload;
    match payload.get("action").and_then(Value::as_str).unwrap_or("echo") {
        "pid" => Ok(json!({"pid": std::process::id()})),
        "fail" => Err(Diagnostic {
            error_type: text(&payload, "errorType"),
            error_message: text(&payload, "message"),
        }),
        "flaky" => {
            let counter = text(&payload, "counter");
            let calls: u64 = std::fs::read_to_string(&counter)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            let _ = std::fs::write(&counter, (calls + 1).to_string());
            let failures = payload.get("failures").and_then(Value::as_u64).unwrap_or(0);
            if calls < failures {
                Err(Diagnostic {
                    error_type: "Flaky.Error".into(),
                    error_message: format!("call {} fails", calls + 1),
                })
            } else {
                Ok(json!({"calls": calls + 1}))
            }
        }
        "sleep" => {
            let ms = payload.get("ms").and_then(Value::as_u64).unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(payload)
        }
        "exit" => std::process::exit(3),
        _ => Ok(payload),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handle)).await
}
