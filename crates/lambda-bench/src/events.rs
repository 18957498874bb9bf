//! The event each function gets for its first invocation: what its state machine or API
//! Gateway would send, for a sandbox of tenant `acme` in a pool account. Each does at least one
//! real call to the local AWS; where the sandbox's resources do not exist, the function answers
//! with its error (the benchmark reports which), as it would on AWS.

use serde_json::{Value, json};

/// The event of `function` for run `run` in `account`; `None` for an unknown function.
pub fn event(function: &str, run: usize, account: &str, root: &std::path::Path) -> Option<Value> {
    let sandbox = format!("bench-{run}");
    // Each run takes a lock of its own, so that no run waits for an earlier one's lease.
    let lock_account = format!("9{run:011}");
    let account = match function {
        "acquire-lock" | "release-lock" => lock_account.as_str(),
        _ => account,
    };
    let execution = format!("arn:aws:states:us-east-1:123456789012:execution:create:{sandbox}-create-v1");
    let job = json!({
        "tenant": "acme", "sandbox_id": sandbox, "operation": "create", "version": 1,
        "execution": execution, "token": format!("{sandbox}-create-v1"), "account_id": account,
        "options": {"constellations": ["payments"]},
    });
    let api = |file: &str| -> Option<Value> {
        let text = std::fs::read_to_string(root.join("events/api").join(file)).ok()?;
        serde_json::from_str(&text).ok()
    };
    Some(match function {
        "hello" => json!({"action": "echo"}),
        "begin-operation" => json!({
            "operation": "create", "execution": execution, "token": format!("{sandbox}-create-v1"),
            "request": {"tenant": "acme", "sandbox_id": sandbox, "name": "bench"},
        }),
        "finish-operation" => json!({"job": job}),
        "launch-instances" => json!({
            "job": job, "network": {"subnet_id": "subnet-bench", "security_group_id": "sg-bench"},
        }),
        "check-instances" => json!({"job": job, "want": "running"}),
        "check-constellations" => json!({
            "job": job, "install": {"command_id": "bench-command", "instance_id": "i-bench"},
        }),
        "acquire-lock"
        | "release-lock"
        | "allocate-account"
        | "retire-account"
        | "ensure-infrastructure"
        | "release-infrastructure"
        | "create-network"
        | "delete-network"
        | "start-instances"
        | "stop-instances"
        | "terminate-instances"
        | "register-ingress"
        | "deregister-ingress"
        | "install-constellations" => job,
        "release-stale-locks"
        | "reconcile-stuck"
        | "delete-expired"
        | "collect-orphans"
        | "cycle-accounts"
        | "grow-pool" => json!({"execution": format!("{execution}-gc"), "as_of": null}),
        "api-token" => api("token.json")?,
        "api-sandboxes" => api("list-sandboxes.json")?,
        "api-accounts" => {
            let mut event = api("list-sandboxes.json")?;
            event["routeKey"] = "GET /accounts".into();
            event["rawPath"] = "/accounts".into();
            event["requestContext"]["routeKey"] = "GET /accounts".into();
            event["requestContext"]["http"]["path"] = "/accounts".into();
            let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
            claims["username"] = "olivia".into();
            claims["cognito:groups"] = "[admins]".into();
            event
        }
        _ => return None,
    })
}
