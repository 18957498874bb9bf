//! `GET /sandboxes/{id}`: one sandbox.

use crate::{Ctx, Seen, behaviour_tests};

const ROUTE: &str = "GET /sandboxes/{id}";

pub async fn answers_the_record_or_not_found(ctx: &Ctx, seen: &mut Seen) {
    let id = ctx.started("Payments").await;
    let path = format!("/sandboxes/{id}");
    let got = seen.expect(
        ROUTE,
        ctx.api.send("GET", &path, Some(&ctx.alice), None).await,
        200,
    );
    assert_eq!(got.body["options"]["amq"], true);
    assert!(got.body["account_id"].is_string(), "{got:?}");
    let unknown = ctx
        .api
        .send("GET", "/sandboxes/sb-000000000000", Some(&ctx.alice), None)
        .await;
    assert_eq!(seen.expect(ROUTE, unknown, 404).problem(), "not-found");
    seen.refusals(ctx, ROUTE, &path, None).await;
    let admin = ctx
        .api
        .send("GET", &format!("{path}?tenant=acme"), Some(&ctx.olivia), None)
        .await;
    seen.expect(ROUTE, admin, 200);
}

behaviour_tests!(answers_the_record_or_not_found);
