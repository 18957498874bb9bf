//! `POST /sandboxes`: creating a sandbox.

use crate::{Ctx, Seen};
use sbx_e2e::api::Api;
use serde_json::json;

const ROUTE: &str = "POST /sandboxes";

pub async fn answers_202_with_the_record_and_its_location(ctx: &Ctx, seen: &mut Seen) {
    let body = json!({"name": "Payments", "amq": true, "constellations": ["payments"], "ttl_hours": 4});
    let created = seen.expect(
        ROUTE,
        ctx.api
            .send("POST", "/sandboxes", Some(&ctx.alice), Some(&body))
            .await,
        202,
    );
    assert_eq!(created.body["state"], "initializing", "{created:?}");
    let id = created.body["id"].as_str().unwrap_or_default();
    assert_eq!(created.headers["location"], format!("/sandboxes/{id}").as_str());
    assert_eq!(created.body["tenant"], "acme");
}

pub async fn refuses_a_bad_field_naming_it(ctx: &Ctx, seen: &mut Seen) {
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "colour": "red"}), "colour"),
        (json!({"name": "x", "amq": "yes"}), "amq"),
        (
            json!({"name": "x", "constellations": ["ok", "Not OK"]}),
            "constellations[1]",
        ),
        (json!({"name": "x", "ttl_hours": 0}), "ttl_hours"),
        (json!({"name": "x", "ttl_hours": 100000}), "ttl_hours"),
        (json!({"name": "x", "instance_size": "huge"}), "instance_size"),
        (json!({"amq": true}), "name"),
        // Names a person could be fooled by: a right-to-left override, a zero-width space, a
        // Latin name with Cyrillic letters in it.
        (
            json!({"name": "invoice\u{202E}fdp.exe"}),
            "name: must not contain",
        ),
        (json!({"name": "pay\u{200B}ments"}), "U+200B"),
        (json!({"name": "\u{0440}aypal"}), "name: mixes scripts"),
    ] {
        let reply = ctx
            .api
            .send("POST", "/sandboxes", Some(&ctx.alice), Some(&body))
            .await;
        let reply = seen.expect(ROUTE, reply, 400);
        assert_eq!(reply.problem(), "invalid-request", "{body}");
        assert!(
            reply.body["detail"].as_str().unwrap_or_default().contains(field),
            "{body}: {reply:?}"
        );
    }
    let long_key = ctx
        .api
        .request("POST", "/sandboxes", Some(&ctx.alice))
        .header("idempotency-key", "k".repeat(300))
        .json(&json!({"name": "x"}));
    let long_key = seen.expect(ROUTE, Api::reply(long_key).await, 400);
    let detail = long_key.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("idempotency-key"), "{long_key:?}");
}

pub async fn refuses_what_is_not_the_callers_or_not_json(ctx: &Ctx, seen: &mut Seen) {
    let api = &ctx.api;
    let x = json!({"name": "x"});
    let other = seen.expect(
        ROUTE,
        api.send("POST", "/sandboxes?tenant=globex", Some(&ctx.alice), Some(&x))
            .await,
        403,
    );
    assert_eq!(other.problem(), "forbidden");
    seen.expect(ROUTE, api.send("POST", "/sandboxes", None, Some(&x)).await, 401);
    seen.expect(
        ROUTE,
        api.send("POST", "/sandboxes", Some(&ctx.alice), Some(&Ctx::big()))
            .await,
        413,
    );
    let text = api
        .request("POST", "/sandboxes", Some(&ctx.alice))
        .header("content-type", "text/plain")
        .body("name=x");
    seen.expect(ROUTE, Api::reply(text).await, 415);
}

pub async fn replays_a_key_and_refuses_its_reuse(ctx: &Ctx, seen: &mut Seen) {
    let keyed = |name: &str| {
        ctx.api
            .request("POST", "/sandboxes", Some(&ctx.alice))
            .header("idempotency-key", "tour-1")
            .json(&json!({"name": name}))
    };
    let first = seen.expect(ROUTE, Api::reply(keyed("Keyed")).await, 202);
    let again = seen.expect(ROUTE, Api::reply(keyed("Keyed")).await, 202);
    assert_eq!(first.body["id"], again.body["id"]);
    let reused = seen.expect(ROUTE, Api::reply(keyed("Other")).await, 422);
    assert_eq!(reused.problem(), "idempotency-key-reused");
}

/// Quota 3: a third live sandbox fits, a fourth does not; once one is deleted, it fits again.
pub async fn stops_at_the_quota_until_a_delete(ctx: &Ctx, seen: &mut Seen) {
    let first = ctx.started("First").await;
    ctx.create("Second").await;
    let third = ctx
        .api
        .send(
            "POST",
            "/sandboxes",
            Some(&ctx.alice),
            Some(&json!({"name": "Third"})),
        )
        .await;
    seen.expect(ROUTE, third, 202);
    let fourth = json!({"name": "Fourth"});
    let over = ctx
        .api
        .send("POST", "/sandboxes", Some(&ctx.alice), Some(&fourth))
        .await;
    let over = seen.expect(ROUTE, over, 409);
    assert_eq!(over.problem(), "quota-exceeded", "{over:?}");
    let deleting = ctx
        .api
        .send("DELETE", &format!("/sandboxes/{first}"), Some(&ctx.alice), None)
        .await;
    assert_eq!(deleting.status, 202, "{deleting:?}");
    ctx.api.wait_for(&ctx.alice, &first, "deleted").await;
    let fits = ctx
        .api
        .send("POST", "/sandboxes", Some(&ctx.alice), Some(&fourth))
        .await;
    seen.expect(ROUTE, fits, 202);
}
