//! `/webhooks`: registering, reading, rotating and removing endpoints, the delivery log and
//! redelivery, and the URLs that are refused (private, link-local, metadata, not https).

use crate::{Ctx, Seen};
use serde_json::{Value, json};
use std::time::Duration;

/// A receiver URL on this machine: loopback is allowed on the local stack only. Nothing needs
/// to listen for these behaviours.
const LOCAL: &str = "http://127.0.0.1:9/hook";

pub async fn registers_lists_rotates_and_removes(ctx: &Ctx, seen: &mut Seen) {
    let route = "POST /webhooks";
    let created = ctx
        .api
        .send(
            "POST",
            "/webhooks",
            Some(&ctx.alice),
            Some(&json!({"url": LOCAL, "events": ["sandbox.started"], "description": "ci"})),
        )
        .await;
    let created = seen.expect(route, created, 201);
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let secret = created.body["secret"].as_str().unwrap_or_default().to_owned();
    assert!(secret.starts_with("whsec_"), "{created:?}");
    assert_eq!(created.body["events"], json!(["sandbox.started"]));

    let listed = seen.expect(
        "GET /webhooks",
        ctx.api.send("GET", "/webhooks", Some(&ctx.alice), None).await,
        200,
    );
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    assert!(
        !listed.body.to_string().contains(&secret),
        "a list never shows a secret"
    );
    let bobs = seen.expect(
        "GET /webhooks",
        ctx.api.send("GET", "/webhooks", Some(&ctx.bob), None).await,
        200,
    );
    assert_eq!(
        bobs.body["items"],
        json!([]),
        "another tenant's endpoints are not listed"
    );
    seen.expect(
        "GET /webhooks",
        ctx.api.send("GET", "/webhooks?x=1", Some(&ctx.alice), None).await,
        400,
    );
    seen.expect(
        "GET /webhooks",
        ctx.api
            .send("GET", "/webhooks?tenant=globex", Some(&ctx.alice), None)
            .await,
        403,
    );
    seen.expect(
        "GET /webhooks",
        ctx.api.send("GET", "/webhooks", None, None).await,
        401,
    );

    let path = format!("/webhooks/{id}");
    let got = seen.expect(
        "GET /webhooks/{id}",
        ctx.api.send("GET", &path, Some(&ctx.alice), None).await,
        200,
    );
    assert_eq!(got.body["signing_secrets"], 1);
    assert!(got.body.get("secret").is_none());
    seen.refusals(ctx, "GET /webhooks/{id}", &path, None).await;

    let rotate = format!("{path}/rotate");
    let rotated = seen.expect(
        "POST /webhooks/{id}/rotate",
        ctx.api.send("POST", &rotate, Some(&ctx.alice), None).await,
        200,
    );
    let new_secret = rotated.body["secret"].as_str().unwrap_or_default();
    assert!(
        new_secret.starts_with("whsec_") && new_secret != secret,
        "{rotated:?}"
    );
    assert_eq!(
        rotated.body["signing_secrets"], 2,
        "the old secret signs during the grace period"
    );
    seen.refusals(ctx, "POST /webhooks/{id}/rotate", &rotate, None)
        .await;

    // Enabling an endpoint that was never disabled changes nothing.
    let enable = format!("{path}/enable");
    let enabled = seen.expect(
        "POST /webhooks/{id}/enable",
        ctx.api.send("POST", &enable, Some(&ctx.alice), None).await,
        200,
    );
    assert_eq!(enabled.body["disabled"], Value::Null, "{enabled:?}");
    assert_eq!(enabled.body["signing_secrets"], 2);
    seen.refusals(ctx, "POST /webhooks/{id}/enable", &enable, None)
        .await;

    let log = format!("{path}/deliveries");
    let empty = seen.expect(
        "GET /webhooks/{id}/deliveries",
        ctx.api.send("GET", &log, Some(&ctx.alice), None).await,
        200,
    );
    assert_eq!(empty.body["items"], json!([]));
    seen.expect(
        "GET /webhooks/{id}/deliveries",
        ctx.api
            .send("GET", &format!("{log}?limit=0"), Some(&ctx.alice), None)
            .await,
        400,
    );
    seen.refusals(ctx, "GET /webhooks/{id}/deliveries", &log, None)
        .await;

    let redeliver = format!("{path}/redeliver");
    let body = json!({"delivery": "sb-000000000000.1.0"});
    seen.expect(
        "POST /webhooks/{id}/redeliver",
        ctx.api
            .send("POST", &redeliver, Some(&ctx.alice), Some(&body))
            .await,
        404,
    );
    seen.expect(
        "POST /webhooks/{id}/redeliver",
        ctx.api
            .send("POST", &redeliver, Some(&ctx.alice), Some(&json!({"x": 1})))
            .await,
        400,
    );
    seen.expect(
        "POST /webhooks/{id}/redeliver",
        ctx.api
            .send("POST", &redeliver, Some(&ctx.alice), Some(&Ctx::big()))
            .await,
        413,
    );
    let text = ctx
        .api
        .request("POST", &redeliver, Some(&ctx.alice))
        .header("content-type", "text/plain")
        .body("delivery");
    seen.expect(
        "POST /webhooks/{id}/redeliver",
        sbx_e2e::api::Api::reply(text).await,
        415,
    );
    seen.refusals(ctx, "POST /webhooks/{id}/redeliver", &redeliver, Some(&body))
        .await;

    seen.refusals(ctx, "DELETE /webhooks/{id}", &path, None).await;
    seen.expect(
        "DELETE /webhooks/{id}",
        ctx.api.send("DELETE", &path, Some(&ctx.alice), None).await,
        204,
    );
    seen.expect(
        "GET /webhooks/{id}",
        ctx.api.send("GET", &path, Some(&ctx.alice), None).await,
        404,
    );
}

pub async fn refuses_private_addresses_and_bad_registrations(ctx: &Ctx, seen: &mut Seen) {
    let route = "POST /webhooks";
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/",
        "https://[fd00:ec2::254]/",
        "https://10.0.0.1/hook",
        "https://192.168.1.10/hook",
        "https://172.16.0.1/hook",
        "https://100.64.0.1/hook",
        "https://[::ffff:169.254.169.254]/",
        "https://0.0.0.0/",
        "http://hooks.example.com/",
        "ftp://hooks.example.com/",
        "https://user:pass@hooks.example.com/",
        "not a url",
    ] {
        let reply = ctx
            .api
            .send("POST", "/webhooks", Some(&ctx.alice), Some(&json!({"url": url})))
            .await;
        let reply = seen.expect(route, reply, 400);
        assert!(
            reply.body["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with("url:"),
            "{url}: {reply:?}"
        );
    }
    let unknown = ctx
        .api
        .send(
            "POST",
            "/webhooks",
            Some(&ctx.alice),
            Some(&json!({"url": LOCAL, "events": ["sandbox.exploded"]})),
        )
        .await;
    let unknown = seen.expect(route, unknown, 400);
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("events[0]:"),
        "{unknown:?}"
    );
    seen.expect(
        route,
        ctx.api
            .send(
                "POST",
                "/webhooks",
                Some(&ctx.alice),
                Some(&json!({"url": LOCAL, "extra": 1})),
            )
            .await,
        400,
    );
    seen.expect(
        route,
        ctx.api
            .send("POST", "/webhooks", Some(&ctx.alice), Some(&Ctx::big()))
            .await,
        413,
    );
    let text = ctx
        .api
        .request("POST", "/webhooks", Some(&ctx.alice))
        .header("content-type", "text/plain")
        .body("url");
    seen.expect(route, sbx_e2e::api::Api::reply(text).await, 415);
    seen.expect(
        route,
        ctx.api
            .send(
                "POST",
                "/webhooks?tenant=globex",
                Some(&ctx.alice),
                Some(&json!({"url": LOCAL})),
            )
            .await,
        403,
    );
    seen.expect(
        route,
        ctx.api
            .send("POST", "/webhooks", None, Some(&json!({"url": LOCAL})))
            .await,
        401,
    );
    for _ in 0..sbx_api::webhooks::MAX_ENDPOINTS {
        seen.expect(
            route,
            ctx.api
                .send(
                    "POST",
                    "/webhooks",
                    Some(&ctx.alice),
                    Some(&json!({"url": LOCAL})),
                )
                .await,
            201,
        );
    }
    let more = ctx
        .api
        .send(
            "POST",
            "/webhooks",
            Some(&ctx.alice),
            Some(&json!({"url": LOCAL})),
        )
        .await;
    seen.expect(route, more, 409);
    // Another tenant's limit is its own.
    seen.expect(
        route,
        ctx.api
            .send("POST", "/webhooks", Some(&ctx.bob), Some(&json!({"url": LOCAL})))
            .await,
        201,
    );
}

pub async fn logs_deliveries_and_redelivers(ctx: &Ctx, seen: &mut Seen) {
    let receiver = sbx_e2e::receiver::Receiver::start().await;
    receiver.fail_next(usize::MAX);
    let created = ctx
        .api
        .send(
            "POST",
            "/webhooks",
            Some(&ctx.alice),
            Some(&json!({"url": receiver.url, "events": ["sandbox.created"]})),
        )
        .await;
    let id = seen.expect("POST /webhooks", created, 201).body["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let sandbox = ctx.create("hooked").await;
    receiver
        .wait_until(Duration::from_secs(60), |r| !r.is_empty())
        .await;
    let log = format!("/webhooks/{id}/deliveries");
    let page = seen.expect(
        "GET /webhooks/{id}/deliveries",
        ctx.api.send("GET", &log, Some(&ctx.alice), None).await,
        200,
    );
    let delivery = page.body["items"][0].clone();
    assert_eq!(delivery["id"], format!("{sandbox}.1.0").as_str(), "{page:?}");
    assert_eq!(delivery["event_type"], "sandbox.created");
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["last"]["status"], 500);
    let redeliver = format!("/webhooks/{id}/redeliver");
    let body = json!({"delivery": delivery["id"]});
    seen.expect(
        "POST /webhooks/{id}/redeliver",
        ctx.api
            .send("POST", &redeliver, Some(&ctx.alice), Some(&body))
            .await,
        409,
    );
    // The receiver recovers: the next attempt (after the schedule's backoff, scaled) delivers.
    receiver.fail_next(0);
    receiver
        .wait_until(Duration::from_secs(60), |r| r.iter().any(|x| x.status == 200))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page = ctx.api.send("GET", &log, Some(&ctx.alice), None).await;
        if page.body["items"][0]["status"] == "delivered" {
            assert!(
                page.body["items"][0]["attempts"].as_u64().unwrap_or_default() >= 2,
                "{page:?}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{page:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = seen.expect(
        "POST /webhooks/{id}/redeliver",
        ctx.api
            .send("POST", &redeliver, Some(&ctx.alice), Some(&body))
            .await,
        202,
    );
    assert_eq!(
        (again.body["status"].as_str(), again.body["redeliveries"].as_u64()),
        (Some("pending"), Some(1))
    );
    let received = receiver
        .wait_until(Duration::from_secs(60), |r| {
            r.iter().filter(|x| x.status == 200).count() == 2
        })
        .await;
    let ids: std::collections::BTreeSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        1,
        "every attempt and the redelivery carry the event's one id"
    );
    receiver.stop();
}
