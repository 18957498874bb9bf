//! The quota under concurrency.

use crate::stack;
use sbx_e2e::api::{Api, Reply};
use serde_json::json;

/// The quota holds under concurrency: of 100 simultaneous creates by one tenant with a quota
/// of 5, exactly 5 are accepted and the rest are refused with `quota-exceeded`.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_stop_at_the_quota() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let replies = futures::future::join_all((0..100).map(|i| {
        let api = api.clone();
        let alice = alice.clone();
        async move {
            api.send(
                "POST",
                "/sandboxes",
                Some(&alice),
                Some(&json!({"name": format!("Rush {i}")})),
            )
            .await
        }
    }))
    .await;
    let accepted: Vec<&Reply> = replies.iter().filter(|r| r.status == 202).collect();
    let over = replies
        .iter()
        .filter(|r| r.status == 409 && r.problem() == "quota-exceeded")
        .count();
    assert_eq!(
        (accepted.len(), over),
        (5, 95),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let listed = api.send("GET", "/sandboxes?limit=100", Some(&alice), None).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(5),
        "{listed:?}"
    );
    for reply in accepted {
        api.wait_for(&alice, reply.body["id"].as_str().unwrap_or_default(), "started")
            .await;
    }
    stack.stop();
}
