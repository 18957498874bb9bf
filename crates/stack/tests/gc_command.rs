//! `sbx-local gc` as a user runs it: against a running local stack, it starts one sweep, waits for
//! it and prints its report; a bad `--as-of` is a usage error that starts nothing.

use sbx_stack::{LocalStack, Options, local_sweep_settings, state_machine_arn};
use std::process::Command;

fn sbx(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sbx-local"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL_SFN")
        .output()
        .unwrap_or_else(|e| panic!("sbx {args:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sbx_gc_runs_one_sweep_and_prints_its_report() {
    let stack = LocalStack::start(Options {
        time_scale: 0.0,
        // No waiting, so moto's instant transitions.
        aws_delay: std::time::Duration::ZERO,
        pool_size: 1,
        sweep: sbx_steps::SweepSettings {
            low_water: 0,
            ..local_sweep_settings()
        },
        ..Options::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let endpoint = stack.sfn_endpoint.clone();
    let later = (chrono::Utc::now() + chrono::Duration::hours(25)).to_rfc3339();
    let out =
        tokio::task::spawn_blocking(move || sbx(&["gc", "--sfn-endpoint", &endpoint, "--as-of", &later]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    for part in ["locks", "stuck", "expired", "orphans", "accounts", "pool"] {
        assert!(report[part].is_object(), "{part} missing from {report}");
    }

    let endpoint = stack.sfn_endpoint.clone();
    let bad =
        tokio::task::spawn_blocking(move || sbx(&["gc", "--sfn-endpoint", &endpoint, "--as-of", "tomorrow"]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"),
        "{bad:?}"
    );
    let sweeps = stack
        .service
        .executions(&state_machine_arn("gc"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sweeps.len(), 1, "the refused command started nothing");
    stack.stop();
}
