//! `/tenants/{id}/budget`: admins set a tenant's monthly budget, members read their own; a
//! create the estimate says would pass it is refused with `budget-exceeded`, naming the
//! figures, and nothing is stored.

use crate::{Ctx, Seen};
use serde_json::json;

pub async fn admins_set_budgets_and_a_create_over_one_is_refused(ctx: &Ctx, seen: &mut Seen) {
    let (get, put) = ("GET /tenants/{id}/budget", "PUT /tenants/{id}/budget");
    let path = "/tenants/acme/budget";
    let none = seen.expect(get, ctx.api.send("GET", path, Some(&ctx.alice), None).await, 200);
    assert_eq!(none.body["budget"], json!(null), "{none:?}");
    assert_eq!(none.body["spent_usd"], 0.0);
    assert_eq!(none.body["prices"]["region"], "us-east-1");

    // A member may read but not set their budget.
    seen.expect(
        put,
        ctx.api
            .send("PUT", path, Some(&ctx.alice), Some(&json!({"monthly_usd": 1000})))
            .await,
        403,
    );
    // Half a dollar: an eight-hour sandbox at about $0.42 an hour does not fit.
    let set = ctx
        .api
        .send(
            "PUT",
            path,
            Some(&ctx.olivia),
            Some(&json!({"monthly_usd": 0.5, "thresholds": [90, 50]})),
        )
        .await;
    let set = seen.expect(put, set, 200);
    assert_eq!(set.body["budget"]["monthly_usd"], 0.5);
    assert_eq!(set.body["budget"]["thresholds"], json!([50, 90]));
    assert_eq!(set.body["budget"]["stop_at_limit"], true);

    let refused = ctx
        .api
        .send(
            "POST",
            "/sandboxes",
            Some(&ctx.alice),
            Some(&json!({"name": "too-dear"})),
        )
        .await;
    let refused = seen.expect("POST /sandboxes", refused, 409);
    assert_eq!(refused.body["type"], "budget-exceeded", "{refused:?}");
    assert_eq!(refused.body["budget_usd"], 0.5);
    assert_eq!(refused.body["spent_usd"], 0.0);
    let forecast = refused.body["forecast_usd"].as_f64().unwrap_or_default();
    assert!(forecast > 0.5, "{refused:?}");
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("$0.50") && detail.contains("$0.00"), "{detail}");
    let list = ctx.api.send("GET", "/sandboxes", Some(&ctx.alice), None).await;
    assert_eq!(list.body["items"], json!([]), "a refused create stores nothing");

    // With room for it, the same create is accepted and the forecast counts it.
    let raised = ctx
        .api
        .send(
            "PUT",
            path,
            Some(&ctx.olivia),
            Some(&json!({"monthly_usd": 1000})),
        )
        .await;
    seen.expect(put, raised, 200);
    ctx.create("fits").await;
    let read = seen.expect(get, ctx.api.send("GET", path, Some(&ctx.alice), None).await, 200);
    assert!(
        read.body["forecast_usd"].as_f64().unwrap_or_default() > 0.5,
        "{read:?}"
    );

    for (body, detail) in [
        (json!({"monthly_usd": 0}), "monthly_usd:"),
        (json!({"monthly_usd": -3}), "monthly_usd:"),
        (json!({"monthly_usd": 10, "thresholds": [500]}), "thresholds[0]:"),
        (json!({"monthly_usd": "ten"}), "monthly_usd:"),
        (json!({"monthly": 10}), "monthly:"),
    ] {
        let reply = seen.expect(
            put,
            ctx.api.send("PUT", path, Some(&ctx.olivia), Some(&body)).await,
            400,
        );
        let got = reply.body["detail"].as_str().unwrap_or_default();
        assert!(got.starts_with(detail), "{body}: {reply:?}");
    }
    seen.expect(
        put,
        ctx.api
            .send("PUT", path, Some(&ctx.olivia), Some(&Ctx::big()))
            .await,
        413,
    );
    let text = ctx
        .api
        .request("PUT", path, Some(&ctx.olivia))
        .header("content-type", "text/plain")
        .body("ten dollars");
    seen.expect(put, sbx_e2e::api::Api::reply(text).await, 415);
    // Another tenant's budget is not a member's to read.
    seen.expect(
        get,
        ctx.api
            .send("GET", "/tenants/globex/budget", Some(&ctx.alice), None)
            .await,
        403,
    );
    for (route, method) in [(get, "GET"), (put, "PUT")] {
        let body = (method == "PUT").then(|| json!({"monthly_usd": 10}));
        seen.expect(
            route,
            ctx.api
                .send(
                    method,
                    "/tenants/NOT_A_TENANT/budget",
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
                .send(method, &format!("{path}?x=1"), Some(&ctx.olivia), body.as_ref())
                .await,
            400,
        );
    }
}
