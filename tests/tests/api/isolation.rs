//! Tenant isolation through the API.

use crate::stack;
use sbx_e2e::api::Api;
use serde_json::json;

/// Another tenant's sandbox does not exist for you: 404 on every sandbox route, absent from
/// your list, and untouched by your attempts.
#[tokio::test(flavor = "multi_thread")]
async fn tenants_never_reach_each_others_sandboxes() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let bob = api.token("bob").await;
    let created = api.create(&alice, "Acme only").await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let before = api.wait_for(&alice, &id, "started").await;
    api.create(&bob, "Globex only").await;

    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    for route in sbx_api::routes::ROUTES
        .iter()
        .filter(|r| r.path.contains("{id}") && r.path.starts_with("/sandboxes"))
    {
        let path = route.path.replace("{id}", &id);
        let body = match route.method {
            "PATCH" => Some(json!({"expires_at": later})),
            "PUT" => Some(json!({"idle_minutes": 60})),
            _ => None,
        };
        let reply = api.send(route.method, &path, Some(&bob), body.as_ref()).await;
        assert_eq!(
            (reply.status, reply.problem()),
            (404, "not-found"),
            "{}: {reply:?}",
            route.key()
        );
    }
    let listed = api.send("GET", "/sandboxes", Some(&bob), None).await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{listed:?}");
    assert!(!ids.contains(&id.as_str()));
    for state in ["initializing", "started"] {
        let listed = api
            .send("GET", &format!("/sandboxes?state={state}"), Some(&bob), None)
            .await;
        assert!(!listed.body.to_string().contains(&id), "{listed:?}");
    }
    let after = api
        .send("GET", &format!("/sandboxes/{id}"), Some(&alice), None)
        .await;
    assert_eq!(after.body, before, "bob's attempts changed nothing");
    stack.stop();
}
