//! Conditional reads on every `GET` route: an `ETag` with each 200, and `304` with no body
//! while the answer has not changed (what the web console's polls rely on).

use crate::{Ctx, Seen};

pub async fn unchanged_answers_are_not_sent_again(ctx: &Ctx, seen: &mut Seen) {
    let id = ctx.started("Payments").await;
    let account = ctx
        .api
        .send("GET", &format!("/sandboxes/{id}"), Some(&ctx.alice), None)
        .await;
    let account = account.body["account_id"].as_str().unwrap_or_default().to_owned();
    let (alice, olivia) = (ctx.alice.as_str(), ctx.olivia.as_str());
    for (route, path, token) in [
        ("GET /sandboxes", "/sandboxes".to_owned(), alice),
        ("GET /sandboxes/{id}", format!("/sandboxes/{id}"), alice),
        (
            "GET /sandboxes/{id}/events",
            format!("/sandboxes/{id}/events"),
            alice,
        ),
        ("GET /accounts", "/accounts".to_owned(), olivia),
        ("GET /accounts/{id}", format!("/accounts/{account}"), olivia),
        (
            "GET /accounts/{id}/events",
            format!("/accounts/{account}/events"),
            olivia,
        ),
    ] {
        let first = seen.expect(route, ctx.api.send("GET", &path, Some(token), None).await, 200);
        let Some(tag) = first.headers.get("etag").and_then(|v| v.to_str().ok()) else {
            panic!("{route}: no ETag: {first:?}");
        };
        assert!(tag.starts_with("W/\""), "{route}: {tag}");
        let again = ctx
            .api
            .request("GET", &path, Some(token))
            .header("if-none-match", tag);
        let again = seen.expect(route, sbx_e2e::api::Api::reply(again).await, 304);
        assert_eq!(again.body, serde_json::Value::Null, "{route}: a 304 has no body");
        assert_eq!(again.headers.get("etag").and_then(|v| v.to_str().ok()), Some(tag));
        // Another tag is not the one the API has: the whole answer comes.
        let other = ctx
            .api
            .request("GET", &path, Some(token))
            .header("if-none-match", "W/\"0\"");
        seen.expect(route, sbx_e2e::api::Api::reply(other).await, 200);
    }
    // A change makes a new tag: the record after a stop is sent again in full.
    let path = format!("/sandboxes/{id}");
    let before = ctx.api.send("GET", &path, Some(alice), None).await;
    let tag = before.headers.get("etag").cloned();
    let stop = ctx
        .api
        .send("POST", &format!("{path}/stop"), Some(alice), None)
        .await;
    assert_eq!(stop.status, 202, "{stop:?}");
    let mut changed = ctx.api.request("GET", &path, Some(alice));
    if let Some(tag) = tag {
        changed = changed.header("if-none-match", tag);
    }
    let changed = seen.expect(
        "GET /sandboxes/{id}",
        sbx_e2e::api::Api::reply(changed).await,
        200,
    );
    assert_ne!(changed.body["state"], "started", "{changed:?}");
}
