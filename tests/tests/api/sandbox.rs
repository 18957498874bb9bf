//! `GET /sandboxes/{id}`: one sandbox.

use crate::{Ctx, Seen};

const ROUTE: &str = "GET /sandboxes/{id}";

pub async fn answers_the_record_or_not_found(ctx: &Ctx, seen: &mut Seen) {
    let id = ctx.started("Payments").await;
    let path = format!("/sandboxes/{id}");
    let got = seen.expect(
        ROUTE,
        ctx.api.send("GET", &path, Some(&ctx.alice), None).await,
        200,
    );
    assert_eq!(got.body["options"]["amq"], true);
    assert!(got.body["account_id"].is_string(), "{got:?}");
    // What may be done now, and why not, by the transition table.
    let actions = &got.body["actions"];
    assert_eq!(
        (
            &actions["stop"]["allowed"],
            &actions["delete"]["allowed"],
            &actions["extend"]["allowed"]
        ),
        (
            &serde_json::json!(true),
            &serde_json::json!(true),
            &serde_json::json!(true)
        ),
        "{got:?}"
    );
    assert_eq!(actions["start"]["allowed"], false);
    assert!(
        actions["start"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("the sandbox is started; start is possible from stopped")),
        "{got:?}"
    );
    let unknown = ctx
        .api
        .send("GET", "/sandboxes/sb-000000000000", Some(&ctx.alice), None)
        .await;
    assert_eq!(seen.expect(ROUTE, unknown, 404).problem(), "not-found");
    seen.refusals(ctx, ROUTE, &path, None).await;
    let admin = ctx
        .api
        .send("GET", &format!("{path}?tenant=acme"), Some(&ctx.olivia), None)
        .await;
    seen.expect(ROUTE, admin, 200);
}

/// While an operation runs, the record says what it has reached (`progress`), with exactly the
/// fields `infra/openapi.yaml` documents; once it has ended, there is none.
pub async fn says_the_progress_of_a_running_operation(ctx: &Ctx, seen: &mut Seen) {
    let created = ctx.api.create(&ctx.alice, "Progress").await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/sandboxes/{id}");
    let spec: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(sbx_e2e::root().join("infra/openapi.yaml")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let documented: Vec<String> = spec["components"]["schemas"]["Progress"]["properties"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut steps = Vec::new();
    loop {
        let got = seen.expect(
            ROUTE,
            ctx.api.send("GET", &path, Some(&ctx.alice), None).await,
            200,
        );
        if got.body["state"] != "initializing" {
            assert!(
                got.body.get("progress").is_none(),
                "no progress once it ended: {got:?}"
            );
            break;
        }
        let progress = &got.body["progress"];
        assert_eq!(progress["operation"], "create", "{got:?}");
        assert_eq!(progress["started_at"], got.body["updated_at"], "{got:?}");
        for key in progress.as_object().into_iter().flat_map(|o| o.keys()) {
            assert!(
                documented.contains(key),
                "{key} is not documented: {documented:?}"
            );
        }
        if let Some(step) = progress["step"].as_str() {
            steps.push(step.to_owned());
        }
        assert!(std::time::Instant::now() < deadline, "the create did not end");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!steps.is_empty(), "a running create names its step");
}
