//! `POST /token`: Cognito's USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH behind the API.

use crate::{Ctx, Seen};
use sbx_e2e::api::{Api, claims_of};
use serde_json::json;

const ROUTE: &str = "POST /token";

pub async fn signs_in_and_refreshes(ctx: &Ctx, seen: &mut Seen) {
    let api = &ctx.api;
    let password = json!({"username": "alice", "password": "Alice-sandbox-1"});
    let tokens = seen.expect(
        ROUTE,
        api.send("POST", "/token", None, Some(&password)).await,
        200,
    );
    assert_eq!(tokens.headers["cache-control"], "no-store");
    let access = tokens.body["access_token"].as_str().unwrap_or_default();
    assert_eq!(claims_of(access)["token_use"], "access");
    let refresh = json!({"refresh_token": tokens.body["refresh_token"]});
    seen.expect(ROUTE, api.send("POST", "/token", None, Some(&refresh)).await, 200);
    let bad_refresh = json!({"refresh_token": "not-a-refresh-token"});
    seen.expect(
        ROUTE,
        api.send("POST", "/token", None, Some(&bad_refresh)).await,
        401,
    );
}

pub async fn never_says_which_part_was_wrong(ctx: &Ctx, seen: &mut Seen) {
    let api = &ctx.api;
    let wrong_password = json!({"username": "alice", "password": "Wrong-password-1"});
    let unknown_user = json!({"username": "nobody", "password": "Alice-sandbox-1"});
    let wrong_password = seen.expect(
        ROUTE,
        api.send("POST", "/token", None, Some(&wrong_password)).await,
        401,
    );
    let unknown_user = seen.expect(
        ROUTE,
        api.send("POST", "/token", None, Some(&unknown_user)).await,
        401,
    );
    assert_eq!(
        wrong_password.body, unknown_user.body,
        "the answer does not say which part was wrong"
    );
}

pub async fn refuses_bodies_it_cannot_read(ctx: &Ctx, seen: &mut Seen) {
    let api = &ctx.api;
    for body in [
        json!({}),
        json!({"username": "alice"}),
        json!({"username": "a", "password": "b", "refresh_token": "c"}),
        json!([1]),
    ] {
        let reply = seen.expect(ROUTE, api.send("POST", "/token", None, Some(&body)).await, 400);
        assert_eq!(reply.problem(), "invalid-request", "{body}");
    }
    let form = api
        .request("POST", "/token", None)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=alice&password=x");
    seen.expect(ROUTE, Api::reply(form).await, 415);
    seen.expect(
        ROUTE,
        api.send("POST", "/token", None, Some(&Ctx::big())).await,
        413,
    );
}
