//! `/tenants/{id}/notifications`: a tenant's expiry warnings, read and set by its members (and
//! by admins for any tenant), checked and named when wrong.

use crate::{Ctx, Seen};
use serde_json::json;

pub async fn members_read_and_set_their_own_thresholds(ctx: &Ctx, seen: &mut Seen) {
    let (get, put) = (
        "GET /tenants/{id}/notifications",
        "PUT /tenants/{id}/notifications",
    );
    let path = "/tenants/acme/notifications";
    let default = seen.expect(get, ctx.api.send("GET", path, Some(&ctx.alice), None).await, 200);
    assert_eq!(default.body["expiry_warnings"], json!([86_400, 3_600]));
    assert_eq!(default.body["custom"], false);
    let set = ctx
        .api
        .send(
            "PUT",
            path,
            Some(&ctx.alice),
            Some(&json!({"expiry_warnings": [1800, 7200, 7200]})),
        )
        .await;
    let set = seen.expect(put, set, 200);
    assert_eq!(
        set.body["expiry_warnings"],
        json!([7200, 1800]),
        "largest first, once each"
    );
    let read = seen.expect(get, ctx.api.send("GET", path, Some(&ctx.olivia), None).await, 200);
    assert_eq!(
        (
            read.body["custom"].as_bool(),
            read.body["expiry_warnings"].clone()
        ),
        (Some(true), json!([7200, 1800]))
    );

    for (body, detail) in [
        (json!({"expiry_warnings": [30]}), "expiry_warnings[0]:"),
        (
            json!({"expiry_warnings": [60, 120, 180, 240, 300, 360]}),
            "expiry_warnings:",
        ),
        (json!({"expiry_warnings": "1h"}), "expiry_warnings:"),
        (json!({"warnings": []}), "warnings:"),
    ] {
        let reply = seen.expect(
            put,
            ctx.api.send("PUT", path, Some(&ctx.alice), Some(&body)).await,
            400,
        );
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with(detail),
            "{body}: {reply:?}"
        );
    }
    seen.expect(
        put,
        ctx.api
            .send("PUT", path, Some(&ctx.alice), Some(&Ctx::big()))
            .await,
        413,
    );
    let text = ctx
        .api
        .request("PUT", path, Some(&ctx.alice))
        .header("content-type", "text/plain")
        .body("1h");
    seen.expect(put, sbx_e2e::api::Api::reply(text).await, 415);
    // Another tenant's settings are not a member's to read or set.
    let other = "/tenants/globex/notifications";
    seen.expect(get, ctx.api.send("GET", other, Some(&ctx.alice), None).await, 403);
    seen.expect(
        put,
        ctx.api
            .send(
                "PUT",
                other,
                Some(&ctx.alice),
                Some(&json!({"expiry_warnings": []})),
            )
            .await,
        403,
    );
    for (route, method) in [(get, "GET"), (put, "PUT")] {
        let body = (method == "PUT").then(|| json!({"expiry_warnings": []}));
        seen.expect(
            route,
            ctx.api
                .send(
                    method,
                    "/tenants/NOT_A_TENANT/notifications",
                    Some(&ctx.olivia),
                    body.as_ref(),
                )
                .await,
            404,
        );
        seen.expect(route, ctx.api.send(method, path, None, body.as_ref()).await, 401);
        seen.expect(
            route,
            ctx.api
                .send(method, &format!("{path}?x=1"), Some(&ctx.alice), body.as_ref())
                .await,
            400,
        );
    }
    let cleared = seen.expect(
        put,
        ctx.api
            .send(
                "PUT",
                path,
                Some(&ctx.alice),
                Some(&json!({"expiry_warnings": []})),
            )
            .await,
        200,
    );
    assert_eq!(cleared.body["expiry_warnings"], json!([]), "no warnings at all");
}
