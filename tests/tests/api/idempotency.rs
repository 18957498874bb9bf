//! Idempotency keys under concurrency.

use crate::stack;
use sbx_e2e::api::Api;
use serde_json::json;

/// The same `Idempotency-Key` twice, also at once: one sandbox, one execution, the same answer.
#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_creates_one_sandbox() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let request = || {
        api.request("POST", "/sandboxes", Some(&alice))
            .header("idempotency-key", "order-42")
            .json(&json!({"name": "Once", "amq": true}))
    };
    let (first, second) = tokio::join!(Api::reply(request()), Api::reply(request()));
    let third = Api::reply(request()).await;
    for reply in [&first, &second, &third] {
        assert_eq!(reply.status, 202, "{reply:?}");
        assert_eq!(reply.body["id"], first.body["id"]);
        assert_eq!(reply.headers["location"], first.headers["location"]);
    }
    let listed = api.send("GET", "/sandboxes", Some(&alice), None).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "{listed:?}"
    );
    let id = first.body["id"].as_str().unwrap_or_default();
    api.wait_for(&alice, id, "started").await;
    let executions = sbx_e2e::sfn(&stack)
        .list_executions()
        .state_machine_arn(sbx_stack::state_machine_arn("create"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListExecutions: {e:?}"));
    assert_eq!(executions.executions().len(), 1, "{executions:?}");
    // After the work is done, the key still answers with the sandbox, and starts nothing.
    let later = Api::reply(request()).await;
    assert_eq!(
        (later.status, &later.body["id"], later.body["state"].as_str()),
        (202, &first.body["id"], Some("started"))
    );
    stack.stop();
}
