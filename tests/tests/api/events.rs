//! `GET /sandboxes/{id}/events`: a sandbox's audit trail.

use crate::{Ctx, Seen};

const ROUTE: &str = "GET /sandboxes/{id}/events";

pub async fn the_trail_has_an_event_per_version(ctx: &Ctx, seen: &mut Seen) {
    let id = ctx.started("Payments").await;
    for (operation, done) in [("stop", "stopped"), ("start", "started")] {
        let begun = ctx
            .api
            .send(
                "POST",
                &format!("/sandboxes/{id}/{operation}"),
                Some(&ctx.alice),
                None,
            )
            .await;
        assert_eq!(begun.status, 202, "{begun:?}");
        ctx.api.wait_for(&ctx.alice, &id, done).await;
    }
    let path = format!("/sandboxes/{id}/events");
    let events = seen.expect(
        ROUTE,
        ctx.api.send("GET", &path, Some(&ctx.alice), None).await,
        200,
    );
    let seqs: Vec<i64> = events.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert_eq!(
        seqs,
        (1..=6).collect::<Vec<_>>(),
        "create, stop and start, each begun and ended: {events:?}"
    );
    // A client that holds the trail up to an event reads only the newer ones.
    let newer = seen.expect(
        ROUTE,
        ctx.api
            .send("GET", &format!("{path}?after=4"), Some(&ctx.alice), None)
            .await,
        200,
    );
    let seqs: Vec<i64> = newer.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert_eq!(seqs, [5, 6], "{newer:?}");
    let bad = seen.expect(
        ROUTE,
        ctx.api
            .send("GET", &format!("{path}?after=-1"), Some(&ctx.alice), None)
            .await,
        400,
    );
    assert!(
        bad.body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("after:")),
        "{bad:?}"
    );
    seen.refusals(ctx, ROUTE, &path, None).await;
}
