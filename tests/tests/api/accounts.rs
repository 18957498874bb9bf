//! `GET /accounts`, `POST /accounts`, `GET /accounts/{id}`, its `/events` and
//! `POST /accounts/{id}/clean`: the account pool, for admins.

use crate::{Ctx, Seen};
use sbx_e2e::api::Api;
use serde_json::json;

pub async fn admins_list_and_filter_accounts(ctx: &Ctx, seen: &mut Seen) {
    const ROUTE: &str = "GET /accounts";
    ctx.started("Payments").await;
    let (api, olivia) = (&ctx.api, Some(ctx.olivia.as_str()));
    let accounts = seen.expect(ROUTE, api.send("GET", "/accounts", olivia, None).await, 200);
    assert_eq!(
        accounts.body["items"].as_array().map(Vec::len),
        Some(3),
        "{accounts:?}"
    );
    let assigned = seen.expect(
        ROUTE,
        api.send("GET", "/accounts?state=assigned&limit=5", olivia, None)
            .await,
        200,
    );
    assert_eq!(assigned.body["items"][0]["tenant"], "acme", "{assigned:?}");
    seen.expect(
        ROUTE,
        api.send("GET", "/accounts?state=lost", olivia, None).await,
        400,
    );
    let member = seen.expect(
        ROUTE,
        api.send("GET", "/accounts", Some(&ctx.alice), None).await,
        403,
    );
    assert_eq!(member.problem(), "forbidden");
    seen.expect(ROUTE, api.send("GET", "/accounts", None, None).await, 401);
}

pub async fn admins_add_and_read_accounts(ctx: &Ctx, seen: &mut Seen) {
    let (api, olivia) = (&ctx.api, Some(ctx.olivia.as_str()));
    let route = "POST /accounts";
    let add = |id: &str| json!({"account_id": id});
    let added = seen.expect(
        route,
        api.send("POST", "/accounts", olivia, Some(&add("200000000001")))
            .await,
        200,
    );
    assert_eq!(added.body["state"], "pool", "{added:?}");
    seen.expect(
        route,
        api.send("POST", "/accounts", olivia, Some(&add("12"))).await,
        400,
    );
    let long = add(&"1".repeat(20_000));
    seen.expect(
        route,
        api.send("POST", "/accounts", olivia, Some(&long)).await,
        413,
    );
    let text = api
        .request("POST", "/accounts", olivia)
        .header("content-type", "text/plain")
        .body("account=200000000001");
    seen.expect(route, Api::reply(text).await, 415);
    let member = api
        .send("POST", "/accounts", Some(&ctx.alice), Some(&add("200000000002")))
        .await;
    seen.expect(route, member, 403);
    seen.expect(
        route,
        api.send("POST", "/accounts", None, Some(&add("200000000002")))
            .await,
        401,
    );

    let route = "GET /accounts/{id}";
    let one = seen.expect(
        route,
        api.send("GET", "/accounts/200000000001", olivia, None).await,
        200,
    );
    assert_eq!(one.body["account_id"], "200000000001");
    seen.expect(
        route,
        api.send("GET", "/accounts/999999999999", olivia, None).await,
        404,
    );
    seen.expect(
        route,
        api.send("GET", "/accounts/200000000001?x=1", olivia, None).await,
        400,
    );
    seen.expect(
        route,
        api.send("GET", "/accounts/200000000001", Some(&ctx.alice), None)
            .await,
        403,
    );
    seen.expect(
        route,
        api.send("GET", "/accounts/200000000001", None, None).await,
        401,
    );
}

pub async fn admins_read_the_trail_and_send_a_quarantined_account_back(ctx: &Ctx, seen: &mut Seen) {
    let (api, olivia) = (&ctx.api, Some(ctx.olivia.as_str()));
    let id = "300000000001";
    sbx_e2e::quarantine(&ctx.stack, id, "left behind: instance i-1 (running)").await;
    let quarantined = seen.expect(
        "GET /accounts",
        api.send("GET", "/accounts?state=quarantined", olivia, None).await,
        200,
    );
    assert_eq!(
        quarantined.body["items"][0]["reason"],
        "left behind: instance i-1 (running)"
    );

    let route = "GET /accounts/{id}/events";
    let trail = seen.expect(
        route,
        api.send("GET", &format!("/accounts/{id}/events"), olivia, None)
            .await,
        200,
    );
    let changes: Vec<&str> = trail.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["change"].as_str())
        .collect();
    assert_eq!(
        changes,
        ["add", "assign", "expire", "begin-cleaning", "quarantine"]
    );
    seen.expect(
        route,
        api.send("GET", "/accounts/999999999999/events", olivia, None)
            .await,
        404,
    );
    seen.expect(
        route,
        api.send("GET", &format!("/accounts/{id}/events?x=1"), olivia, None)
            .await,
        400,
    );
    seen.expect(
        route,
        api.send("GET", &format!("/accounts/{id}/events"), Some(&ctx.alice), None)
            .await,
        403,
    );
    seen.expect(
        route,
        api.send("GET", &format!("/accounts/{id}/events"), None, None)
            .await,
        401,
    );

    let route = "POST /accounts/{id}/clean";
    let path = format!("/accounts/{id}/clean");
    seen.expect(route, api.send("POST", &path, Some(&ctx.alice), None).await, 403);
    seen.expect(route, api.send("POST", &path, None, None).await, 401);
    seen.expect(
        route,
        api.send("POST", &format!("{path}?now=1"), olivia, None).await,
        400,
    );
    seen.expect(
        route,
        api.send("POST", "/accounts/999999999999/clean", olivia, None)
            .await,
        404,
    );
    let cleaning = seen.expect(route, api.send("POST", &path, olivia, None).await, 200);
    assert_eq!(cleaning.body["state"], "cleaning", "{cleaning:?}");
    assert!(cleaning.body.get("reason").is_none(), "{cleaning:?}");
    let again = seen.expect(route, api.send("POST", &path, olivia, None).await, 409);
    assert_eq!(again.problem(), "invalid-transition");
}
