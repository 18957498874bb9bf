//! schemathesis over the OpenAPI document.

use crate::stack;
use sbx_e2e::api::Api;
use sbx_e2e::root;
use serde_json::Value;

/// schemathesis over `infra/openapi.yaml` against the local API, as a member and as an admin:
/// no 5xx, and every answer as the document says (`tests/schemathesis.toml` names the checks).
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let root = root();
    let schemathesis = root.join(".venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "run scripts/setup: {} is missing",
        schemathesis.display()
    );
    let dir = std::env::temp_dir().join(format!("sbx-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut requests = 0;
    for user in ["alice", "olivia"] {
        let token = api.token(user).await;
        let har = dir.join(format!("{user}.har"));
        let output = tokio::process::Command::new(&schemathesis)
            .arg("--config-file")
            .arg(root.join("tests/schemathesis.toml"))
            .arg("--no-color")
            .arg("run")
            .arg(root.join("infra/openapi.yaml"))
            .args(["--url", &api.base])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--max-examples", "40", "--seed", "20261123", "--workers", "1"])
            .args(["--report", "har", "--report-har-path"])
            .arg(&har)
            .current_dir(&dir)
            .output()
            .await
            .unwrap_or_else(|e| panic!("schemathesis did not run: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "schemathesis as {user} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let log: Value =
            serde_json::from_str(&std::fs::read_to_string(&har).unwrap_or_default()).unwrap_or_default();
        let entries = log["log"]["entries"].as_array().cloned().unwrap_or_default();
        for entry in &entries {
            let status = entry["response"]["status"].as_u64().unwrap_or_default();
            assert!(status < 500, "{}", entry["request"]);
        }
        requests += entries.len();
    }
    eprintln!("schemathesis sent {requests} requests");
    assert!(requests >= 500, "only {requests} requests were generated");
    let _ = std::fs::remove_dir_all(&dir);
    stack.stop();
}
