//! `POST /sandboxes/{id}/stop`, `/start` and `DELETE /sandboxes/{id}`: the operations a
//! workflow carries out.

use crate::{Ctx, Seen};
use sbx_store::SandboxStore;
use serde_json::json;

pub async fn stop_and_start_refuse_a_second_request(ctx: &Ctx, seen: &mut Seen) {
    let id = ctx.started("Payments").await;
    for (operation, running, done) in [("stop", "stopping", "stopped"), ("start", "starting", "started")] {
        let route = format!("POST /sandboxes/{{id}}/{operation}");
        let path = format!("/sandboxes/{id}/{operation}");
        let begun = seen.expect(
            &route,
            ctx.api.send("POST", &path, Some(&ctx.alice), None).await,
            202,
        );
        assert_eq!(begun.body["state"], running, "{begun:?}");
        let refused = seen.expect(
            &route,
            ctx.api.send("POST", &path, Some(&ctx.alice), None).await,
            409,
        );
        assert_eq!(refused.problem(), "invalid-transition", "{refused:?}");
        assert!(
            refused.body["state"].is_string(),
            "the current state: {refused:?}"
        );
        seen.refusals(ctx, &route, &path, None).await;
        ctx.api.wait_for(&ctx.alice, &id, done).await;
    }
}

pub async fn delete_refuses_a_second_request_and_any_extension(ctx: &Ctx, seen: &mut Seen) {
    const ROUTE: &str = "DELETE /sandboxes/{id}";
    let id = ctx.started("Payments").await;
    let path = format!("/sandboxes/{id}");
    let deleting = seen.expect(
        ROUTE,
        ctx.api.send("DELETE", &path, Some(&ctx.alice), None).await,
        202,
    );
    assert_eq!(deleting.body["state"], "deleting", "{deleting:?}");
    let twice = seen.expect(
        ROUTE,
        ctx.api.send("DELETE", &path, Some(&ctx.alice), None).await,
        409,
    );
    assert_eq!(twice.body["state"], "deleting", "{twice:?}");
    seen.refusals(ctx, ROUTE, &path, None).await;
    let later = json!({"expires_at": (chrono::Utc::now() + chrono::Duration::hours(48)).to_rfc3339()});
    let late = ctx.api.send("PATCH", &path, Some(&ctx.alice), Some(&later)).await;
    let late = seen.expect("PATCH /sandboxes/{id}", late, 409);
    assert_eq!(late.problem(), "invalid-transition", "{late:?}");
    ctx.api.wait_for(&ctx.alice, &id, "deleted").await;
}

/// The first try changed the record and then could not start the execution (its answer lost,
/// or the function died): the client's repeat is refused as any second request is, and the
/// operation runs all the same, once.
pub async fn a_repeat_starts_what_the_first_try_never_started(ctx: &Ctx, seen: &mut Seen) {
    const ROUTE: &str = "POST /sandboxes/{id}/stop";
    let id = ctx.started("Payments").await;
    let store = sbx_e2e::direct_store(&ctx.stack).await;
    let stopping = store
        .begin("acme", &id, sbx_lifecycle::Operation::Stop)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let path = format!("/sandboxes/{id}/stop");
    let repeat = seen.expect(
        ROUTE,
        ctx.api.send("POST", &path, Some(&ctx.alice), None).await,
        409,
    );
    assert_eq!(repeat.body["state"], "stopping", "{repeat:?}");
    let stopped = ctx.api.wait_for(&ctx.alice, &id, "stopped").await;
    assert_eq!(
        stopped["version"],
        stopping.version + 1,
        "stopped once: {stopped}"
    );
}
