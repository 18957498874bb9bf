//! Conformance of the interpreter to the ASL documentation: each test runs a definition through
//! the service, with in-process functions, and checks what AWS documents for it.

use sbx_sfn_local::service::{Outcome, Status};
use sbx_sfn_local::{Engine, FunctionError, Functions, Service};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn service(functions: Functions, time_scale: f64) -> Service {
    Service::new(Engine {
        functions,
        time_scale,
        region: "us-east-1".into(),
    })
}

async fn run_on(service: &Service, definition: Value, input: Value) -> (Outcome, Vec<Value>) {
    let name = format!("m{}", fastrand::u32(..));
    let machine = service
        .create_state_machine(&name, &definition.to_string(), None)
        .unwrap_or_else(|e| panic!("definition refused: {e}"));
    let execution = service
        .start_execution(&machine.arn, None, Some(&input.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = tokio::time::timeout(Duration::from_secs(30), execution.finished())
        .await
        .unwrap_or_else(|_| panic!("the execution did not end"));
    let history = sbx_sfn_local::service::history_json(&execution);
    (outcome, history)
}

async fn run(functions: Functions, definition: Value, input: Value) -> Outcome {
    run_on(&service(functions, 0.0), definition, input).await.0
}

fn output(outcome: &Outcome) -> Value {
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    serde_json::from_str(outcome.output.as_deref().unwrap_or("null")).unwrap_or(Value::Null)
}

fn failed(outcome: &Outcome) -> (String, String) {
    assert_eq!(outcome.status, Status::Failed, "{outcome:?}");
    (
        outcome.error.clone().unwrap_or_default(),
        outcome.cause.clone().unwrap_or_default(),
    )
}

fn lambda(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

fn single(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

/// Functions: `echo` returns its input, `fail` fails with the input's errorType.
fn functions() -> Functions {
    let functions = Functions::new();
    functions.handler("echo", |event: Value| async move { Ok(event) });
    functions.handler("fail", |event: Value| async move {
        Err(FunctionError::new(
            event["errorType"].as_str().unwrap_or("Custom.Error"),
            event["message"].as_str().unwrap_or("it failed"),
        ))
    });
    functions
}

#[tokio::test]
async fn pass_with_result_and_result_path() {
    // The ResultPath example of the docs.
    let definition = single(json!({
        "Type": "Pass", "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
        "ResultPath": "$.coords", "End": true
    }));
    let out = output(&run(functions(), definition, json!({"georefOf": "Home"})).await);
    assert_eq!(
        out,
        json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}})
    );
}

#[tokio::test]
async fn input_and_output_processing_in_order() {
    // InputPath, Parameters, ResultSelector, ResultPath, OutputPath, as in "Input and Output Processing".
    let definition = single(json!({
        "Type": "Task", "Resource": lambda("echo"),
        "InputPath": "$.library",
        "Parameters": {"title.$": "$.book", "constant": 1, "nested": {"author.$": "$.author"}, "exec.$": "$$.Execution.Name"},
        "ResultSelector": {"t.$": "$.title", "a.$": "$.nested.author", "len.$": "States.ArrayLength(States.Array($.title, $.constant))"},
        "ResultPath": "$.library.result",
        "OutputPath": "$.library",
        "End": true
    }));
    let input = json!({"library": {"book": "Dune", "author": "Herbert"}, "other": true});
    let out = output(&run(functions(), definition, input).await);
    assert_eq!(
        out,
        json!({"book": "Dune", "author": "Herbert", "result": {"t": "Dune", "a": "Herbert", "len": 2}})
    );
}

#[tokio::test]
async fn null_paths() {
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": lambda("echo"), "InputPath": null, "ResultPath": "$.seen", "Next": "B"},
        "B": {"Type": "Pass", "Result": "ignored", "ResultPath": null, "Next": "C"},
        "C": {"Type": "Pass", "OutputPath": null, "Next": "D"},
        "D": {"Type": "Pass", "Parameters": {"was.$": "$"}, "End": true}
    }});
    let out = output(&run(functions(), definition, json!({"k": 1})).await);
    assert_eq!(out, json!({"was": {}}));

    let definition = single(
        json!({"Type": "Task", "Resource": lambda("echo"), "InputPath": null, "ResultPath": "$.seen", "End": true}),
    );
    let out = output(&run(functions(), definition, json!({"k": 1})).await);
    assert_eq!(out, json!({"k": 1, "seen": {}}));
}

#[tokio::test]
async fn context_object_and_map_item() {
    let definition = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
        "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value", "tag.$": "$.tag", "state.$": "$$.State.Name"},
        "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}},
        "End": true
    }}});
    let out = output(
        &run(
            functions(),
            definition,
            json!({"items": ["a", "b", "c"], "tag": "t"}),
        )
        .await,
    );
    assert_eq!(
        out,
        json!([
            {"index": 0, "value": "a", "tag": "t", "state": "M"},
            {"index": 1, "value": "b", "tag": "t", "state": "M"},
            {"index": 2, "value": "c", "tag": "t", "state": "M"}
        ])
    );

    // The legacy form: Iterator and Parameters.
    let legacy = json!({"StartAt": "M", "States": {"M": {
        "Type": "Map", "Parameters": {"i.$": "$$.Map.Item.Index"},
        "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}},
        "ResultSelector": {"count.$": "States.ArrayLength($)"},
        "End": true
    }}});
    let out = output(&run(functions(), legacy, json!([10, 20])).await);
    assert_eq!(out, json!({"count": 2}));
}

#[tokio::test]
async fn map_respects_max_concurrency() {
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let functions = Functions::new();
    {
        let (active, peak) = (active.clone(), peak.clone());
        functions.handler("slow", move |event: Value| {
            let (active, peak) = (active.clone(), peak.clone());
            async move {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                active.fetch_sub(1, Ordering::SeqCst);
                Ok(event)
            }
        });
    }
    let definition = single(json!({
        "Type": "Map", "MaxConcurrency": 2,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": lambda("slow"), "End": true}}},
        "End": true
    }));
    let items: Vec<Value> = (0..8).map(Value::from).collect();
    let out = output(&run(functions, definition, Value::Array(items.clone())).await);
    assert_eq!(out, Value::Array(items), "results keep the order of the items");
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn parallel_runs_branches_and_fails_as_one() {
    let definition = single(json!({
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"a.$": "$.x"}, "End": true}}},
            {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": lambda("echo"), "End": true}}}
        ],
        "ResultPath": "$.branches",
        "End": true
    }));
    let out = output(&run(functions(), definition, json!({"x": 1})).await);
    assert_eq!(out, json!({"x": 1, "branches": [{"a": 1}, {"x": 1}]}));

    let definition = json!({"StartAt": "P", "States": {
        "P": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "End": true}}},
                {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "Branch.Broke", "Cause": "b"}}}
            ],
            "Catch": [{"ErrorEquals": ["Branch.Broke"], "ResultPath": "$.err", "Next": "Done"}],
            "End": true
        },
        "Done": {"Type": "Succeed"}
    }});
    let out = output(&run(functions(), definition, json!({})).await);
    assert_eq!(out, json!({"err": {"Error": "Branch.Broke", "Cause": "b"}}));
}

#[tokio::test]
async fn choice_operators_and_default() {
    let rules = [
        (json!({"Variable": "$.s", "StringEquals": "x"}), true),
        (json!({"Variable": "$.s", "StringEqualsPath": "$.s2"}), true),
        (json!({"Variable": "$.s", "StringLessThan": "y"}), true),
        (json!({"Variable": "$.s", "StringGreaterThan": "y"}), false),
        (json!({"Variable": "$.s", "StringLessThanEquals": "x"}), true),
        (
            json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.s2"}),
            true,
        ),
        (json!({"Variable": "$.file", "StringMatches": "log-*.txt"}), true),
        (json!({"Variable": "$.n", "NumericEquals": 10}), true),
        (json!({"Variable": "$.n", "NumericLessThan": 10}), false),
        (
            json!({"Variable": "$.n", "NumericGreaterThanPath": "$.small"}),
            true,
        ),
        (json!({"Variable": "$.n", "NumericLessThanEquals": 10.0}), true),
        (json!({"Variable": "$.n", "NumericGreaterThanEquals": 11}), false),
        (json!({"Variable": "$.b", "BooleanEquals": true}), true),
        (json!({"Variable": "$.b", "BooleanEqualsPath": "$.f"}), false),
        (
            json!({"Variable": "$.t", "TimestampEquals": "2026-01-01T00:00:00Z"}),
            true,
        ),
        (
            json!({"Variable": "$.t", "TimestampLessThan": "2026-01-02T00:00:00Z"}),
            true,
        ),
        (
            json!({"Variable": "$.t", "TimestampGreaterThanPath": "$.early"}),
            true,
        ),
        (
            json!({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.early"}),
            false,
        ),
        (
            json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2026-01-01T00:00:00Z"}),
            true,
        ),
        (json!({"Variable": "$.z", "IsNull": true}), true),
        (json!({"Variable": "$.nothing", "IsPresent": false}), true),
        (json!({"Variable": "$.n", "IsNumeric": true}), true),
        (json!({"Variable": "$.s", "IsString": true}), true),
        (json!({"Variable": "$.b", "IsBoolean": false}), false),
        (json!({"Variable": "$.t", "IsTimestamp": true}), true),
        (json!({"Variable": "$.n", "StringEquals": "10"}), false),
        (
            json!({"And": [{"Variable": "$.n", "NumericEquals": 10}, {"Variable": "$.b", "BooleanEquals": true}]}),
            true,
        ),
        (
            json!({"Or": [{"Variable": "$.n", "NumericEquals": 1}, {"Variable": "$.b", "BooleanEquals": false}]}),
            false,
        ),
        (json!({"Not": {"Variable": "$.s", "StringEquals": "y"}}), true),
    ];
    let input = json!({
        "s": "x", "s2": "x", "file": "log-1.txt", "n": 10, "small": 3, "b": true, "f": false,
        "t": "2026-01-01T00:00:00Z", "early": "2025-12-31T00:00:00Z", "z": null
    });
    for (rule, expected) in rules {
        let mut rule_with_next = rule.clone();
        rule_with_next["Next"] = json!("Yes");
        let definition = json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [rule_with_next], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": "yes", "End": true},
            "No": {"Type": "Pass", "Result": "no", "End": true}
        }});
        let out = output(&run(functions(), definition, input.clone()).await);
        assert_eq!(out, json!(if expected { "yes" } else { "no" }), "{rule}");
    }
}

#[tokio::test]
async fn no_choice_matched_and_missing_variable() {
    let definition = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "Done"}]},
        "Done": {"Type": "Succeed"}
    }});
    let (error, _) = failed(&run(functions(), definition.clone(), json!({"n": 2})).await);
    assert_eq!(error, "States.NoChoiceMatched");
    let (error, _) = failed(&run(functions(), definition, json!({})).await);
    assert_eq!(error, "States.Runtime");
}

#[tokio::test]
async fn wait_states_wait_scaled_and_pass_input_through() {
    for wait in [
        json!({"Seconds": 2}),
        json!({"SecondsPath": "$.secs"}),
        json!({"TimestampPath": "$.until"}),
    ] {
        let mut state = json!({"Type": "Wait", "End": true});
        for (k, v) in wait.as_object().into_iter().flatten() {
            state[k] = v.clone();
        }
        let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
        let input = json!({"secs": 2, "until": until});
        let started = Instant::now();
        let (outcome, _) = run_on(&service(functions(), 0.1), single(state), input.clone()).await;
        assert_eq!(output(&outcome), input);
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(150),
            "{wait}: waited {elapsed:?}, scaled 2 s is 200 ms"
        );
    }
    let past = single(json!({"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": true}));
    assert_eq!(
        output(&run(functions(), past, json!({"k": 1})).await),
        json!({"k": 1})
    );
}

#[tokio::test]
async fn fail_state_with_paths_and_intrinsics() {
    let definition = single(json!({"Type": "Fail", "Error": "Custom.Error", "Cause": "static cause"}));
    assert_eq!(
        failed(&run(functions(), definition, json!({})).await),
        ("Custom.Error".into(), "static cause".into())
    );
    let definition = single(json!({
        "Type": "Fail", "ErrorPath": "$.code", "CausePath": "States.Format('order {} failed', $.order)"
    }));
    assert_eq!(
        failed(
            &run(
                functions(),
                definition,
                json!({"code": "Order.Failed", "order": 7})
            )
            .await
        ),
        ("Order.Failed".into(), "order 7 failed".into())
    );
}

fn counting(name: &str, fails: usize, error: &'static str) -> (Functions, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let functions = Functions::new();
    let counter = calls.clone();
    functions.handler(name, move |event: Value| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n <= fails {
                Err(FunctionError::new(error, format!("call {n}")))
            } else {
                Ok(json!({"calls": n, "event": event}))
            }
        }
    });
    (functions, calls)
}

#[tokio::test]
async fn retry_then_success_and_exhausted_retrier_goes_to_catch() {
    let state = |max: u32| {
        json!({"StartAt": "T", "States": {
            "T": {
                "Type": "Task", "Resource": lambda("flaky"),
                "Retry": [{"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 1, "MaxAttempts": max, "BackoffRate": 2.0}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }})
    };
    let (functions, calls) = counting("flaky", 2, "Flaky.Error");
    let out = output(&run(functions, state(2), json!({})).await);
    assert_eq!(out["calls"], json!(3));
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let (functions, calls) = counting("flaky", 5, "Flaky.Error");
    let out = output(&run(functions, state(2), json!({"in": 1})).await);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "1 try and 2 retries");
    assert_eq!(out["in"], json!(1));
    assert_eq!(out["error"]["Error"], json!("Flaky.Error"));
    assert!(
        out["error"]["Cause"]
            .as_str()
            .unwrap_or_default()
            .contains("call 3")
    );

    // MaxAttempts 0: never retried.
    let (functions, calls) = counting("flaky", 5, "Flaky.Error");
    output(&run(functions, state(0), json!({})).await);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn each_retrier_counts_for_the_whole_state() {
    // Errors alternate A, B, A, B, ...: the A retrier allows 2 retries in all, not 2 per streak.
    let calls = Arc::new(AtomicUsize::new(0));
    let functions = Functions::new();
    let counter = calls.clone();
    functions.handler("alternating", move |_event: Value| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            Err(FunctionError::new(
                if n % 2 == 1 { "A" } else { "B" },
                format!("call {n}"),
            ))
        }
    });
    let definition = single(json!({
        "Type": "Task", "Resource": lambda("alternating"),
        "Retry": [
            {"ErrorEquals": ["A"], "MaxAttempts": 2, "IntervalSeconds": 1},
            {"ErrorEquals": ["B"], "MaxAttempts": 10, "IntervalSeconds": 1}
        ],
        "End": true
    }));
    let (error, cause) = failed(&run(functions, definition, json!({})).await);
    // Calls: 1 A (retry A #1), 2 B (B #1), 3 A (A #2), 4 B (B #2), 5 A: A exhausted.
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(error, "A");
    assert!(cause.contains("call 5"), "{cause}");
}

#[tokio::test]
async fn retry_delays_follow_interval_backoff_and_max_delay() {
    let (functions, _) = counting("flaky", 3, "Flaky.Error");
    let definition = single(json!({
        "Type": "Task", "Resource": lambda("flaky"),
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 3.0, "MaxDelaySeconds": 4, "MaxAttempts": 3}],
        "End": true
    }));
    // Delays 1, 3, then 9 capped at 4: 8 s in all, 80 ms at a time scale of 0.01.
    let started = Instant::now();
    let (outcome, _) = run_on(&service(functions, 0.01), definition, json!({})).await;
    output(&outcome);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(75), "waited {elapsed:?}");
}

#[tokio::test]
async fn catch_matching_rules() {
    let definition = |errors: Value| {
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("fail"),
                  "Catch": [{"ErrorEquals": errors, "Next": "Caught"}], "End": true},
            "Caught": {"Type": "Pass", "End": true}
        }})
    };
    let input = json!({"errorType": "Custom.Error", "message": "boom"});
    for errors in [
        json!(["Custom.Error"]),
        json!(["States.TaskFailed"]),
        json!(["States.ALL"]),
    ] {
        let out = output(&run(functions(), definition(errors.clone()), input.clone()).await);
        assert_eq!(out["Error"], json!("Custom.Error"), "{errors}");
        let cause: Value = serde_json::from_str(out["Cause"].as_str().unwrap_or("{}")).unwrap_or_default();
        assert_eq!(
            cause["errorMessage"],
            json!("boom"),
            "the cause is the function's error payload"
        );
    }
    let (error, _) = failed(&run(functions(), definition(json!(["Other.Error"])), input).await);
    assert_eq!(error, "Custom.Error");
}

#[tokio::test]
async fn timeouts_raise_states_timeout_which_task_failed_does_not_catch() {
    let functions = Functions::new();
    functions.handler("slow", |event: Value| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(event)
    });
    let definition = |limits: Value, errors: Value| {
        let mut task = json!({"Type": "Task", "Resource": lambda("slow"),
            "Catch": [{"ErrorEquals": errors, "Next": "Caught"}], "End": true});
        for (k, v) in limits.as_object().into_iter().flatten() {
            task[k] = v.clone();
        }
        json!({"StartAt": "T", "States": {"T": task, "Caught": {"Type": "Pass", "End": true}}})
    };
    let out = output(
        &run(
            functions.clone(),
            definition(json!({"TimeoutSeconds": 1}), json!(["States.Timeout"])),
            json!({}),
        )
        .await,
    );
    assert_eq!(out["Error"], json!("States.Timeout"));
    let out = output(
        &run(
            functions.clone(),
            definition(
                json!({"TimeoutSeconds": 10, "HeartbeatSeconds": 1}),
                json!(["States.ALL"]),
            ),
            json!({}),
        )
        .await,
    );
    assert_eq!(out["Error"], json!("States.Timeout"));
    let (error, _) = failed(
        &run(
            functions,
            definition(json!({"TimeoutSeconds": 1}), json!(["States.TaskFailed"])),
            json!({}),
        )
        .await,
    );
    assert_eq!(error, "States.Timeout");
}

#[tokio::test]
async fn runtime_errors_are_not_caught() {
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": lambda("echo"), "InputPath": "$.missing",
              "Retry": [{"ErrorEquals": ["States.ALL"]}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
        "Caught": {"Type": "Pass", "End": true}
    }});
    let (error, cause) = failed(&run(functions(), definition, json!({})).await);
    assert_eq!(error, "States.Runtime");
    assert!(cause.contains("$.missing"), "{cause}");

    let parameters = single(json!({"Type": "Pass", "Parameters": {"x.$": "$.nope"}, "End": true}));
    assert_eq!(
        failed(&run(functions(), parameters, json!({})).await).0,
        "States.Runtime"
    );
}

#[tokio::test]
async fn data_limit_exceeded_is_caught_only_by_name() {
    let functions = Functions::new();
    functions.handler("big", |_event: Value| async move {
        Ok(json!({"blob": "x".repeat(300 * 1024)}))
    });
    let definition = |errors: Value| {
        json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": lambda("big"), "Catch": [{"ErrorEquals": errors, "Next": "Caught"}], "End": true},
            "Caught": {"Type": "Pass", "End": true}
        }})
    };
    let (error, _) = failed(&run(functions.clone(), definition(json!(["States.ALL"])), json!({})).await);
    assert_eq!(error, "States.DataLimitExceeded");
    let out = output(
        &run(
            functions,
            definition(json!(["States.DataLimitExceeded"])),
            json!({}),
        )
        .await,
    );
    assert_eq!(out["Error"], json!("States.DataLimitExceeded"));
}

#[tokio::test]
async fn lambda_invoke_integration_wraps_the_result_and_names_function_errors() {
    let definition = single(json!({
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": lambda("echo"), "Payload": {"in.$": "$.v"}},
        "End": true
    }));
    let out = output(&run(functions(), definition, json!({"v": 42})).await);
    assert_eq!(out["StatusCode"], json!(200));
    assert_eq!(out["Payload"], json!({"in": 42}));
    assert_eq!(out["ExecutedVersion"], json!("$LATEST"));

    let definition = single(json!({
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "fail:live", "Payload.$": "$"},
        "End": true
    }));
    let (error, cause) = failed(
        &run(
            functions(),
            definition,
            json!({"errorType": "Sbx.Conflict", "message": "busy"}),
        )
        .await,
    );
    assert_eq!(error, "Sbx.Conflict");
    let cause: Value = serde_json::from_str(&cause).unwrap_or_default();
    assert_eq!(cause["errorType"], json!("Sbx.Conflict"));
    assert_eq!(cause["errorMessage"], json!("busy"));

    let missing = single(json!({"Type": "Task", "Resource": lambda("nobody"), "End": true}));
    assert_eq!(
        failed(&run(functions(), missing, json!({})).await).0,
        "Lambda.ResourceNotFoundException"
    );
}

#[tokio::test]
async fn execution_timeout_and_history() {
    let definition = json!({"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": true}}});
    let (outcome, _) = run_on(&service(functions(), 1.0), definition, json!({})).await;
    assert_eq!(outcome.status, Status::TimedOut);
    assert_eq!(outcome.error.as_deref(), Some("States.Timeout"));

    let definition = json!({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Next": "T"},
        "T": {"Type": "Task", "Resource": lambda("echo"), "End": true}
    }});
    let (outcome, history) = run_on(&service(functions(), 0.0), definition, json!({"a": 1})).await;
    output(&outcome);
    let types: Vec<&str> = history.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event["id"], json!(i + 1));
        assert_eq!(event["previousEventId"], json!(i), "{event}");
    }
}

#[tokio::test]
async fn invalid_definitions_are_refused_with_the_rule() {
    let service = service(functions(), 0.0);
    let err = service
        .create_state_machine(
            "bad",
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}"#,
            None,
        )
        .err()
        .map(|e| (e.code(), e.to_string()));
    let (code, message) = err.unwrap_or_default();
    assert_eq!(code, "InvalidDefinition");
    assert!(
        message.contains("MISSING_TRANSITION_TARGET") && message.contains("/States/A/Next"),
        "{message}"
    );
}
