//! `PATCH /sandboxes/{id}`: extending (or shortening) a sandbox's lifetime.

use crate::{Ctx, Seen};
use sbx_e2e::api::Api;
use serde_json::json;

const ROUTE: &str = "PATCH /sandboxes/{id}";

fn in_hours(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339()
}

pub async fn sets_the_expiry_within_the_lifetime(ctx: &Ctx, seen: &mut Seen) {
    let path = format!("/sandboxes/{}", ctx.started("Payments").await);
    let later = in_hours(48);
    let reply = ctx
        .api
        .send(
            "PATCH",
            &path,
            Some(&ctx.alice),
            Some(&json!({"expires_at": later})),
        )
        .await;
    let extended = seen.expect(ROUTE, reply, 200);
    let stored =
        chrono::DateTime::parse_from_rfc3339(extended.body["expires_at"].as_str().unwrap_or_default());
    let asked = chrono::DateTime::parse_from_rfc3339(&later);
    assert!(
        matches!((stored, asked), (Ok(a), Ok(b)) if (a - b).num_milliseconds().abs() < 1),
        "{extended:?}"
    );
    for (body, field) in [
        (json!({"expires_at": "2000-01-01T00:00:00Z"}), "expires_at"),
        (json!({"expires_at": in_hours(31 * 24)}), "expires_at"),
        (json!({"expires_at": "tomorrow"}), "expires_at"),
        (json!({"expires_at": later, "name": "x"}), "name"),
    ] {
        let reply = seen.expect(
            ROUTE,
            ctx.api.send("PATCH", &path, Some(&ctx.alice), Some(&body)).await,
            400,
        );
        assert!(
            reply.problem() == "invalid-request"
                && reply.body["detail"].as_str().unwrap_or_default().contains(field),
            "{body}: {reply:?}"
        );
    }
}

pub async fn refuses_what_it_cannot_read(ctx: &Ctx, seen: &mut Seen) {
    let path = format!("/sandboxes/{}", ctx.create("Payments").await);
    let extend = json!({"expires_at": in_hours(48)});
    seen.refusals(ctx, ROUTE, &path, Some(&extend)).await;
    seen.expect(
        ROUTE,
        ctx.api
            .send("PATCH", &path, Some(&ctx.alice), Some(&Ctx::big()))
            .await,
        413,
    );
    let text = ctx
        .api
        .request("PATCH", &path, Some(&ctx.alice))
        .header("content-type", "text/plain")
        .body("soon");
    seen.expect(ROUTE, Api::reply(text).await, 415);
}
