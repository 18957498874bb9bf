//! `PUT /sandboxes/{id}/schedule`: a schedule is set on the record and removed with `{}`; a bad
//! part is named; a deleted sandbox has none.

use crate::{Ctx, Seen};
use serde_json::json;

pub async fn sets_and_removes_a_schedule(ctx: &Ctx, seen: &mut Seen) {
    let route = "PUT /sandboxes/{id}/schedule";
    let id = ctx.started("scheduled").await;
    let path = format!("/sandboxes/{id}/schedule");
    let schedule = json!({
        "autostop": {"at": "19:00", "days": ["mon", "tue", "wed", "thu", "fri"], "time_zone": "Europe/London"},
        "autostart": {"at": "07:30", "time_zone": "Europe/London"},
        "idle_minutes": 120
    });
    let set = seen.expect(
        route,
        ctx.api
            .send("PUT", &path, Some(&ctx.alice), Some(&schedule))
            .await,
        200,
    );
    assert_eq!(set.body["schedule"]["autostop"]["at"], "19:00");
    assert_eq!(set.body["schedule"]["idle_minutes"], 120);
    let got = ctx
        .api
        .send("GET", &format!("/sandboxes/{id}"), Some(&ctx.alice), None)
        .await;
    assert_eq!(got.body["schedule"], set.body["schedule"]);
    let cleared = seen.expect(
        route,
        ctx.api
            .send("PUT", &path, Some(&ctx.alice), Some(&json!({})))
            .await,
        200,
    );
    assert!(cleared.body.get("schedule").is_none(), "{cleared:?}");

    for (body, field) in [
        (
            json!({"autostop": {"at": "25:00", "time_zone": "UTC"}}),
            "autostop.at:",
        ),
        (
            json!({"autostart": {"at": "07:00", "days": ["someday"], "time_zone": "UTC"}}),
            "autostart.days[0]:",
        ),
        (
            json!({"autostop": {"at": "19:00", "time_zone": "Mars/Olympus_Mons"}}),
            "autostop.time_zone:",
        ),
        (json!({"idle_minutes": 1}), "idle_minutes:"),
        (json!({"autostop": {"at": "19:00"}}), "autostop:"),
        (json!({"when": "later"}), "when:"),
    ] {
        let reply = seen.expect(
            route,
            ctx.api.send("PUT", &path, Some(&ctx.alice), Some(&body)).await,
            400,
        );
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(field), "{body}: {detail}");
    }
    seen.expect(
        route,
        ctx.api
            .send("PUT", &path, Some(&ctx.alice), Some(&Ctx::big()))
            .await,
        413,
    );
    let text = ctx
        .api
        .request("PUT", &path, Some(&ctx.alice))
        .header("content-type", "text/plain")
        .body("autostop");
    seen.expect(route, sbx_e2e::api::Api::reply(text).await, 415);
    seen.refusals(ctx, route, &path, Some(&schedule)).await;

    let deleted = ctx
        .api
        .send("DELETE", &format!("/sandboxes/{id}"), Some(&ctx.alice), None)
        .await;
    assert_eq!(deleted.status, 202, "{deleted:?}");
    let refused = seen.expect(
        route,
        ctx.api
            .send("PUT", &path, Some(&ctx.alice), Some(&schedule))
            .await,
        409,
    );
    assert_eq!(refused.body["state"], "deleting", "{refused:?}");
}
