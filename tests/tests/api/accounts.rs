//! `GET /accounts`, `POST /accounts` and `GET /accounts/{id}`: the account pool, for admins.

use crate::{Ctx, Seen, behaviour_tests};
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

behaviour_tests!(admins_list_and_filter_accounts, admins_add_and_read_accounts);
