//! `GET /sandboxes`: a page of the caller's tenant's sandboxes.

use crate::{Ctx, Seen};
use serde_json::json;

const ROUTE: &str = "GET /sandboxes";

async fn three(ctx: &Ctx) {
    for name in ["One", "Two", "Three"] {
        ctx.create(name).await;
    }
}

pub async fn pages_with_signed_tokens(ctx: &Ctx, seen: &mut Seen) {
    three(ctx).await;
    let (api, alice) = (&ctx.api, Some(ctx.alice.as_str()));
    let list = seen.expect(ROUTE, api.send("GET", "/sandboxes", alice, None).await, 200);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(3), "{list:?}");
    let page = seen.expect(
        ROUTE,
        api.send("GET", "/sandboxes?limit=2", alice, None).await,
        200,
    );
    let token = page.body["next_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a next page: {page:?}"))
        .to_owned();
    let rest = api
        .send(
            "GET",
            &format!("/sandboxes?limit=2&next_token={token}"),
            alice,
            None,
        )
        .await;
    let rest = seen.expect(ROUTE, rest, 200);
    assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(1), "{rest:?}");
    let mut tampered = token.clone().into_bytes();
    tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap_or_default();
    let reply = api
        .send(
            "GET",
            &format!("/sandboxes?limit=2&next_token={tampered}"),
            alice,
            None,
        )
        .await;
    let reply = seen.expect(ROUTE, reply, 400);
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("next_token"), "{reply:?}");
    let bobs = api
        .send(
            "GET",
            &format!("/sandboxes?next_token={token}"),
            Some(&ctx.bob),
            None,
        )
        .await;
    seen.expect(ROUTE, bobs, 400);
    let filtered = seen.expect(
        ROUTE,
        api.send("GET", "/sandboxes?state=deleted", alice, None).await,
        200,
    );
    assert_eq!(filtered.body["items"], json!([]));
}

pub async fn refuses_bad_queries_and_other_tenants(ctx: &Ctx, seen: &mut Seen) {
    let (api, alice) = (&ctx.api, Some(ctx.alice.as_str()));
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "state=running",
        "colour=red",
        "limit=1&limit=2",
    ] {
        let reply = seen.expect(
            ROUTE,
            api.send("GET", &format!("/sandboxes?{query}"), alice, None).await,
            400,
        );
        assert_eq!(reply.problem(), "invalid-request", "{query}");
    }
    seen.expect(
        ROUTE,
        api.send("GET", "/sandboxes?tenant=globex", alice, None).await,
        403,
    );
    seen.expect(ROUTE, api.send("GET", "/sandboxes", None, None).await, 401);
}

pub async fn admins_name_the_tenant(ctx: &Ctx, seen: &mut Seen) {
    three(ctx).await;
    let olivia = Some(ctx.olivia.as_str());
    let admin = seen.expect(
        ROUTE,
        ctx.api.send("GET", "/sandboxes?tenant=acme", olivia, None).await,
        200,
    );
    assert_eq!(admin.body["items"].as_array().map(Vec::len), Some(3), "{admin:?}");
    seen.expect(ROUTE, ctx.api.send("GET", "/sandboxes", olivia, None).await, 400);
}
