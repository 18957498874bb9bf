//! The HTTP API end to end, as a client sees it: `sbx up`'s local API gateway with its JWT
//! authorizer in front of the API functions, real tokens from moto's Cognito, the workflows
//! running on the local engine, and the answers checked against `infra/openapi.yaml`.

use sbx_e2e::api::{Api, Reply, Signer, claims_of, forge};
use sbx_e2e::root;
use sbx_e2e::stack_with;
use sbx_stack::{LocalStack, Options};
use serde_json::{Value, json};
use std::collections::BTreeSet;

async fn stack(quota: u32) -> LocalStack {
    stack_with(Options {
        pool_size: 3,
        quota,
        ..Options::default()
    })
    .await
}

/// Every (route key, status) that `infra/openapi.yaml` documents.
fn documented() -> BTreeSet<(String, u16)> {
    let text = std::fs::read_to_string(root().join("infra/openapi.yaml")).unwrap_or_default();
    let doc: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml: {e}"));
    let mut pairs = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if method == "parameters" {
                continue;
            }
            for status in operation["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(s, _)| s)
            {
                let status = status
                    .parse()
                    .unwrap_or_else(|_| panic!("{method} {path}: status {status}"));
                pairs.insert((format!("{} {path}", method.to_uppercase()), status));
            }
        }
    }
    pairs
}

/// What a tour of the API saw.
#[derive(Default)]
struct Seen(BTreeSet<(String, u16)>);

impl Seen {
    /// Records the answer to `route` and checks its form: problem details for the functions'
    /// errors, `{"message"}` for the gateway's 401.
    fn see(&mut self, route: &str, reply: &Reply) -> Reply {
        if reply.status >= 400 {
            let gateway = reply.content_type == "application/json" && reply.body.get("message").is_some();
            assert!(
                gateway && matches!(reply.status, 401 | 413)
                    || reply.content_type == "application/problem+json",
                "{route}: {reply:?}"
            );
            if reply.content_type == "application/problem+json" {
                assert_eq!(reply.body["status"], reply.status, "{route}: {reply:?}");
                assert!(
                    reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                    "{route}: {reply:?}"
                );
            }
        }
        self.0.insert((route.to_owned(), reply.status));
        reply.clone()
    }

    /// Records the answer to `route` and asserts its status.
    fn expect(&mut self, route: &str, reply: Reply, status: u16) -> Reply {
        let reply = self.see(route, &reply);
        assert_eq!(reply.status, status, "{route}: {reply:?}");
        reply
    }

    /// What every `/sandboxes/{id}` route answers besides its own: 404 to another tenant (for
    /// the owner's sandbox), 403 to a member naming a tenant, 400 to an unknown parameter, 401
    /// without a token.
    async fn refusals(
        &mut self,
        api: &Api,
        route: &str,
        path: &str,
        body: Option<&Value>,
        owner: &str,
        other: &str,
    ) {
        let method = route.split(' ').next().unwrap_or_default();
        for (path, token, status) in [
            (path.to_owned(), Some(other), 404),
            (format!("{path}?tenant=acme"), Some(other), 403),
            (format!("{path}?x=1"), Some(owner), 400),
            (path.to_owned(), None, 401),
        ] {
            self.expect(route, api.send(method, &path, token, body).await, status);
        }
    }
}

/// Every route's success path and its documented errors, through the local gateway; at the end
/// the statuses seen are exactly those documented, but for those only a failing dependency
/// produces (5xx, and 429 from Cognito's throttling).
#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_as_documented() {
    let stack = stack(3).await;
    let api = Api::new(&stack);
    let mut seen = Seen::default();
    let alice = api.token("alice").await;
    let bob = api.token("bob").await;
    let olivia = api.token("olivia").await;
    let big = json!({"name": "x".repeat(20_000)});

    // POST /token
    let route = "POST /token";
    let tokens = seen.see(
        route,
        &api.send(
            "POST",
            "/token",
            None,
            Some(&json!({"username": "alice", "password": "Alice-sandbox-1"})),
        )
        .await,
    );
    assert_eq!(tokens.headers["cache-control"], "no-store");
    assert_eq!(
        claims_of(tokens.body["access_token"].as_str().unwrap_or_default())["token_use"],
        "access"
    );
    let refreshed = seen.see(
        route,
        &api.send(
            "POST",
            "/token",
            None,
            Some(&json!({"refresh_token": tokens.body["refresh_token"]})),
        )
        .await,
    );
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let wrong_password = seen.see(
        route,
        &api.send(
            "POST",
            "/token",
            None,
            Some(&json!({"username": "alice", "password": "Wrong-password-1"})),
        )
        .await,
    );
    let unknown_user = seen.see(
        route,
        &api.send(
            "POST",
            "/token",
            None,
            Some(&json!({"username": "nobody", "password": "Alice-sandbox-1"})),
        )
        .await,
    );
    assert_eq!((wrong_password.status, unknown_user.status), (401, 401));
    assert_eq!(
        wrong_password.body, unknown_user.body,
        "the answer does not say which part was wrong"
    );
    let bad_refresh = seen.see(
        route,
        &api.send(
            "POST",
            "/token",
            None,
            Some(&json!({"refresh_token": "not-a-refresh-token"})),
        )
        .await,
    );
    assert_eq!(bad_refresh.status, 401);
    for body in [
        json!({}),
        json!({"username": "alice"}),
        json!({"username": "a", "password": "b", "refresh_token": "c"}),
        json!([1]),
    ] {
        assert_eq!(
            seen.see(route, &api.send("POST", "/token", None, Some(&body)).await)
                .problem(),
            "invalid-request",
            "{body}"
        );
    }
    let form = seen.see(
        route,
        &Api::reply(
            api.request("POST", "/token", None)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("username=alice&password=x"),
        )
        .await,
    );
    assert_eq!(form.status, 415);
    seen.expect(route, api.send("POST", "/token", None, Some(&big)).await, 413);

    // POST /sandboxes
    let route = "POST /sandboxes";
    let created = seen.see(
        route,
        &api.send(
            "POST",
            "/sandboxes",
            Some(&alice),
            Some(&json!({"name": "Payments", "amq": true, "constellations": ["payments"], "ttl_hours": 4})),
        )
        .await,
    );
    assert_eq!(
        (created.status, created.body["state"].as_str()),
        (202, Some("initializing")),
        "{created:?}"
    );
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created.headers["location"], format!("/sandboxes/{id}").as_str());
    assert_eq!(created.body["tenant"], "acme");
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "colour": "red"}), "colour"),
        (json!({"name": "x", "amq": "yes"}), "amq"),
        (
            json!({"name": "x", "constellations": ["ok", "Not OK"]}),
            "constellations[1]",
        ),
        (json!({"name": "x", "ttl_hours": 0}), "ttl_hours"),
        (json!({"name": "x", "ttl_hours": 100000}), "ttl_hours"),
        (json!({"name": "x", "instance_size": "huge"}), "instance_size"),
        (json!({"amq": true}), "name"),
    ] {
        let reply = seen.see(
            route,
            &api.send("POST", "/sandboxes", Some(&alice), Some(&body)).await,
        );
        assert_eq!(reply.problem(), "invalid-request", "{body}");
        assert!(
            reply.body["detail"].as_str().unwrap_or_default().contains(field),
            "{body}: {reply:?}"
        );
    }
    let long_key = seen.see(
        route,
        &Api::reply(
            api.request("POST", "/sandboxes", Some(&alice))
                .header("idempotency-key", "k".repeat(300))
                .json(&json!({"name": "x"})),
        )
        .await,
    );
    assert!(
        long_key.body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("idempotency-key"),
        "{long_key:?}"
    );
    assert_eq!(
        seen.see(
            route,
            &api.send(
                "POST",
                "/sandboxes?tenant=globex",
                Some(&alice),
                Some(&json!({"name": "x"}))
            )
            .await
        )
        .problem(),
        "forbidden"
    );
    seen.expect(
        route,
        api.send("POST", "/sandboxes", None, Some(&json!({"name": "x"})))
            .await,
        401,
    );
    seen.expect(
        route,
        api.send("POST", "/sandboxes", Some(&alice), Some(&big)).await,
        413,
    );
    let text = seen.see(
        route,
        &Api::reply(
            api.request("POST", "/sandboxes", Some(&alice))
                .header("content-type", "text/plain")
                .body("name=x"),
        )
        .await,
    );
    assert_eq!(text.status, 415);
    let keyed = |name: &str| {
        api.request("POST", "/sandboxes", Some(&alice))
            .header("idempotency-key", "tour-1")
            .json(&json!({"name": name}))
    };
    let first = seen.see(route, &Api::reply(keyed("Keyed")).await);
    let again = seen.see(route, &Api::reply(keyed("Keyed")).await);
    assert_eq!((first.status, again.status), (202, 202));
    assert_eq!(first.body["id"], again.body["id"]);
    assert_eq!(
        seen.see(route, &Api::reply(keyed("Other")).await).problem(),
        "idempotency-key-reused"
    );
    // Quota 3: a third live sandbox fits, a fourth does not.
    let third = seen.see(
        route,
        &api.send(
            "POST",
            "/sandboxes",
            Some(&alice),
            Some(&json!({"name": "Third"})),
        )
        .await,
    );
    assert_eq!(third.status, 202, "{third:?}");
    let over = seen.see(
        route,
        &api.send(
            "POST",
            "/sandboxes",
            Some(&alice),
            Some(&json!({"name": "Fourth"})),
        )
        .await,
    );
    assert_eq!((over.status, over.problem()), (409, "quota-exceeded"), "{over:?}");

    // GET /sandboxes
    let route = "GET /sandboxes";
    let list = seen.see(route, &api.send("GET", "/sandboxes", Some(&alice), None).await);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(3), "{list:?}");
    let page = seen.see(
        route,
        &api.send("GET", "/sandboxes?limit=2", Some(&alice), None).await,
    );
    let token = page.body["next_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a next page: {page:?}"))
        .to_owned();
    let rest = seen.see(
        route,
        &api.send(
            "GET",
            &format!("/sandboxes?limit=2&next_token={token}"),
            Some(&alice),
            None,
        )
        .await,
    );
    assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(1), "{rest:?}");
    let mut tampered = token.clone().into_bytes();
    tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap_or_default();
    let reply = seen.see(
        route,
        &api.send(
            "GET",
            &format!("/sandboxes?limit=2&next_token={tampered}"),
            Some(&alice),
            None,
        )
        .await,
    );
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("next_token"),
        "{reply:?}"
    );
    let reply = seen.see(
        route,
        &api.send("GET", &format!("/sandboxes?next_token={token}"), Some(&bob), None)
            .await,
    );
    assert_eq!(reply.status, 400, "another tenant's token is refused: {reply:?}");
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "state=running",
        "colour=red",
        "limit=1&limit=2",
    ] {
        assert_eq!(
            seen.see(
                route,
                &api.send("GET", &format!("/sandboxes?{query}"), Some(&alice), None)
                    .await
            )
            .problem(),
            "invalid-request",
            "{query}"
        );
    }
    let filtered = seen.see(
        route,
        &api.send("GET", "/sandboxes?state=deleted", Some(&alice), None)
            .await,
    );
    assert_eq!(filtered.body["items"], json!([]));
    seen.expect(
        route,
        api.send("GET", "/sandboxes?tenant=globex", Some(&alice), None)
            .await,
        403,
    );
    let admin = seen.see(
        route,
        &api.send("GET", "/sandboxes?tenant=acme", Some(&olivia), None)
            .await,
    );
    assert_eq!(admin.body["items"].as_array().map(Vec::len), Some(3), "{admin:?}");
    seen.expect(
        route,
        api.send("GET", "/sandboxes", Some(&olivia), None).await,
        400,
    );
    seen.expect(route, api.send("GET", "/sandboxes", None, None).await, 401);

    // GET /sandboxes/{id}
    let route = "GET /sandboxes/{id}";
    api.wait_for(&alice, &id, "started").await;
    let got = seen.see(
        route,
        &api.send("GET", &format!("/sandboxes/{id}"), Some(&alice), None)
            .await,
    );
    assert_eq!(
        (got.status, got.body["options"]["amq"].as_bool()),
        (200, Some(true))
    );
    assert!(got.body["account_id"].is_string(), "{got:?}");
    assert_eq!(
        seen.see(
            route,
            &api.send("GET", "/sandboxes/sb-000000000000", Some(&alice), None)
                .await
        )
        .problem(),
        "not-found"
    );
    seen.refusals(&api, route, &format!("/sandboxes/{id}"), None, &alice, &bob)
        .await;
    let admin = seen.see(
        route,
        &api.send(
            "GET",
            &format!("/sandboxes/{id}?tenant=acme"),
            Some(&olivia),
            None,
        )
        .await,
    );
    assert_eq!(admin.status, 200, "{admin:?}");

    // POST /sandboxes/{id}/stop and /start
    for (operation, running, done) in [("stop", "stopping", "stopped"), ("start", "starting", "started")] {
        let route = format!("POST /sandboxes/{{id}}/{operation}");
        let path = format!("/sandboxes/{id}/{operation}");
        let begun = seen.see(&route, &api.send("POST", &path, Some(&alice), None).await);
        assert_eq!(
            (begun.status, begun.body["state"].as_str()),
            (202, Some(running)),
            "{begun:?}"
        );
        let refused = seen.see(&route, &api.send("POST", &path, Some(&alice), None).await);
        assert_eq!(
            (refused.status, refused.problem()),
            (409, "invalid-transition"),
            "{refused:?}"
        );
        assert!(
            refused.body["state"].is_string(),
            "the current state: {refused:?}"
        );
        seen.refusals(&api, &route, &path, None, &alice, &bob).await;
        api.wait_for(&alice, &id, done).await;
    }

    // PATCH /sandboxes/{id}
    let route = "PATCH /sandboxes/{id}";
    let path = format!("/sandboxes/{id}");
    let later = (chrono::Utc::now() + chrono::Duration::hours(48)).to_rfc3339();
    let extended = seen.see(
        route,
        &api.send("PATCH", &path, Some(&alice), Some(&json!({"expires_at": later})))
            .await,
    );
    assert_eq!(extended.status, 200, "{extended:?}");
    let stored =
        chrono::DateTime::parse_from_rfc3339(extended.body["expires_at"].as_str().unwrap_or_default());
    let asked = chrono::DateTime::parse_from_rfc3339(&later);
    assert!(
        matches!((stored, asked), (Ok(a), Ok(b)) if (a - b).num_milliseconds().abs() < 1),
        "{extended:?}"
    );
    for (body, field) in [
        (json!({"expires_at": "2000-01-01T00:00:00Z"}), "expires_at"),
        (
            json!({"expires_at": (chrono::Utc::now() + chrono::Duration::days(31)).to_rfc3339()}),
            "expires_at",
        ),
        (json!({"expires_at": "tomorrow"}), "expires_at"),
        (json!({"expires_at": later, "name": "x"}), "name"),
    ] {
        let reply = seen.see(route, &api.send("PATCH", &path, Some(&alice), Some(&body)).await);
        assert!(
            reply.problem() == "invalid-request"
                && reply.body["detail"].as_str().unwrap_or_default().contains(field),
            "{body}: {reply:?}"
        );
    }
    let extend = json!({"expires_at": later});
    seen.refusals(&api, route, &path, Some(&extend), &alice, &bob)
        .await;
    seen.expect(
        route,
        api.send("PATCH", &path, Some(&alice), Some(&big)).await,
        413,
    );
    seen.expect(
        route,
        Api::reply(
            api.request("PATCH", &path, Some(&alice))
                .header("content-type", "text/plain")
                .body("soon"),
        )
        .await,
        415,
    );

    // GET /sandboxes/{id}/events
    let route = "GET /sandboxes/{id}/events";
    let events = seen.see(
        route,
        &api.send("GET", &format!("/sandboxes/{id}/events"), Some(&alice), None)
            .await,
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
    seen.refusals(
        &api,
        route,
        &format!("/sandboxes/{id}/events"),
        None,
        &alice,
        &bob,
    )
    .await;

    // DELETE /sandboxes/{id}
    let route = "DELETE /sandboxes/{id}";
    let deleting = seen.see(route, &api.send("DELETE", &path, Some(&alice), None).await);
    assert_eq!(
        (deleting.status, deleting.body["state"].as_str()),
        (202, Some("deleting")),
        "{deleting:?}"
    );
    let twice = seen.see(route, &api.send("DELETE", &path, Some(&alice), None).await);
    assert_eq!(
        (twice.status, twice.body["state"].as_str()),
        (409, Some("deleting")),
        "{twice:?}"
    );
    seen.refusals(&api, route, &path, None, &alice, &bob).await;
    let late = seen.see(
        "PATCH /sandboxes/{id}",
        &api.send("PATCH", &path, Some(&alice), Some(&json!({"expires_at": later})))
            .await,
    );
    assert_eq!(
        (late.status, late.problem()),
        (409, "invalid-transition"),
        "{late:?}"
    );
    api.wait_for(&alice, &id, "deleted").await;
    // A deleted sandbox no longer counts against the quota.
    assert_eq!(
        api.send(
            "POST",
            "/sandboxes",
            Some(&alice),
            Some(&json!({"name": "Fourth"}))
        )
        .await
        .status,
        202
    );

    // /accounts, admins only
    let route = "GET /accounts";
    let accounts = seen.see(route, &api.send("GET", "/accounts", Some(&olivia), None).await);
    assert_eq!(
        accounts.body["items"].as_array().map(Vec::len),
        Some(3),
        "{accounts:?}"
    );
    let assigned = seen.see(
        route,
        &api.send("GET", "/accounts?state=assigned&limit=5", Some(&olivia), None)
            .await,
    );
    assert_eq!(assigned.body["items"][0]["tenant"], "acme", "{assigned:?}");
    seen.expect(
        route,
        api.send("GET", "/accounts?state=lost", Some(&olivia), None).await,
        400,
    );
    assert_eq!(
        seen.see(route, &api.send("GET", "/accounts", Some(&alice), None).await)
            .problem(),
        "forbidden"
    );
    seen.expect(route, api.send("GET", "/accounts", None, None).await, 401);
    let route = "POST /accounts";
    let added = seen.see(
        route,
        &api.send(
            "POST",
            "/accounts",
            Some(&olivia),
            Some(&json!({"account_id": "200000000001"})),
        )
        .await,
    );
    assert_eq!(
        (added.status, added.body["state"].as_str()),
        (200, Some("pool")),
        "{added:?}"
    );
    seen.expect(
        route,
        api.send(
            "POST",
            "/accounts",
            Some(&olivia),
            Some(&json!({"account_id": "12"})),
        )
        .await,
        400,
    );
    seen.expect(
        route,
        api.send(
            "POST",
            "/accounts",
            Some(&olivia),
            Some(&json!({"account_id": "1".repeat(20_000)})),
        )
        .await,
        413,
    );
    seen.expect(
        route,
        Api::reply(
            api.request("POST", "/accounts", Some(&olivia))
                .header("content-type", "text/plain")
                .body("account=200000000001"),
        )
        .await,
        415,
    );
    seen.expect(
        route,
        api.send(
            "POST",
            "/accounts",
            Some(&alice),
            Some(&json!({"account_id": "200000000002"})),
        )
        .await,
        403,
    );
    seen.expect(
        route,
        api.send(
            "POST",
            "/accounts",
            None,
            Some(&json!({"account_id": "200000000002"})),
        )
        .await,
        401,
    );
    let route = "GET /accounts/{id}";
    let one = seen.see(
        route,
        &api.send("GET", "/accounts/200000000001", Some(&olivia), None)
            .await,
    );
    assert_eq!(
        (one.status, one.body["account_id"].as_str()),
        (200, Some("200000000001"))
    );
    seen.expect(
        route,
        api.send("GET", "/accounts/999999999999", Some(&olivia), None)
            .await,
        404,
    );
    seen.expect(
        route,
        api.send("GET", "/accounts/200000000001?x=1", Some(&olivia), None)
            .await,
        400,
    );
    seen.expect(
        route,
        api.send("GET", "/accounts/200000000001", Some(&alice), None)
            .await,
        403,
    );
    seen.expect(
        route,
        api.send("GET", "/accounts/200000000001", None, None).await,
        401,
    );

    // The gateway: no route, no function.
    let nowhere = api.send("GET", "/nowhere", Some(&alice), None).await;
    assert_eq!(
        (nowhere.status, &nowhere.body),
        (404, &json!({"message": "Not Found"}))
    );
    assert_eq!(
        api.send("PUT", "/sandboxes", Some(&alice), None).await.status,
        404
    );

    let documented = documented();
    let undocumented: Vec<_> = seen.0.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "answers the document does not list: {undocumented:?}"
    );
    let unseen: Vec<_> = documented
        .difference(&seen.0)
        .filter(|(route, status)| !(*status >= 500 || (*status == 429 && route == "POST /token")))
        .collect();
    assert!(
        unseen.is_empty(),
        "documented answers no request produced: {unseen:?}"
    );
    stack.stop();
}

/// What API Gateway's JWT authorizer refuses, the local gateway refuses: every guarded route
/// answers 401 to each of these tokens, and to none of them does a function answer.
#[tokio::test(flavor = "multi_thread")]
async fn bad_tokens_are_refused_on_every_guarded_route() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let tokens = api.sign_in("alice", "Alice-sandbox-1").await;
    let access = tokens["access_token"].as_str().unwrap_or_default().to_owned();
    let id_token = tokens["id_token"].as_str().unwrap_or_default().to_owned();
    let real = claims_of(&access);
    assert_eq!(real["kid"], Value::Null);
    let now = chrono::Utc::now().timestamp();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = real.clone();
        change(&mut claims);
        claims
    };
    // The same claims signed with the issuer's key pass: the changes below are what fails.
    let control = forge(&real, Signer::Issuer);
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let mut payload_changed: Vec<String> = access.split('.').map(str::to_owned).collect();
    payload_changed[1] = b64(&with(&|c| c["username"] = json!("bob")));
    let bad: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("not-a-jwt".into())),
        ("empty bearer", Some(String::new())),
        (
            "expired",
            Some(forge(&with(&|c| c["exp"] = json!(now - 60)), Signer::Issuer)),
        ),
        ("wrongly signed", Some(forge(&real, Signer::Stranger))),
        ("payload changed", Some(payload_changed.join("."))),
        (
            "alg none",
            Some(format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": "dummy"})),
                b64(&real)
            )),
        ),
        (
            "wrong issuer",
            Some(forge(
                &with(&|c| c["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other")),
                Signer::Issuer,
            )),
        ),
        (
            "wrong audience",
            Some(forge(
                &with(&|c| c["client_id"] = json!("another-client")),
                Signer::Issuer,
            )),
        ),
        ("id token", Some(id_token)),
    ];
    for route in sbx_api::routes::ROUTES.iter().filter(|r| r.authorized) {
        let path = route.path.replace("{id}", "sb-000000000001");
        let ok = api
            .send(route.method, &path, Some(&control), Some(&json!({})))
            .await;
        assert_ne!(ok.status, 401, "{} with a good token: {ok:?}", route.key());
        for (what, token) in &bad {
            let reply = api
                .send(route.method, &path, token.as_deref(), Some(&json!({})))
                .await;
            assert_eq!(
                (reply.status, &reply.body),
                (401, &json!({"message": "Unauthorized"})),
                "{} with a {what} token",
                route.key()
            );
        }
    }
    stack.stop();
}

/// Another tenant's sandbox does not exist for you: 404 on every sandbox route, absent from
/// your list, and untouched by your attempts.
#[tokio::test(flavor = "multi_thread")]
async fn tenants_never_reach_each_others_sandboxes() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let bob = api.token("bob").await;
    let created = api.create(&alice, "Acme only").await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let before = api.wait_for(&alice, &id, "started").await;
    api.create(&bob, "Globex only").await;

    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    for route in sbx_api::routes::ROUTES
        .iter()
        .filter(|r| r.path.contains("{id}") && r.path.starts_with("/sandboxes"))
    {
        let path = route.path.replace("{id}", &id);
        let body = (route.method == "PATCH").then(|| json!({"expires_at": later}));
        let reply = api.send(route.method, &path, Some(&bob), body.as_ref()).await;
        assert_eq!(
            (reply.status, reply.problem()),
            (404, "not-found"),
            "{}: {reply:?}",
            route.key()
        );
    }
    let listed = api.send("GET", "/sandboxes", Some(&bob), None).await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{listed:?}");
    assert!(!ids.contains(&id.as_str()));
    for state in ["initializing", "started"] {
        let listed = api
            .send("GET", &format!("/sandboxes?state={state}"), Some(&bob), None)
            .await;
        assert!(!listed.body.to_string().contains(&id), "{listed:?}");
    }
    let after = api
        .send("GET", &format!("/sandboxes/{id}"), Some(&alice), None)
        .await;
    assert_eq!(after.body, before, "bob's attempts changed nothing");
    stack.stop();
}

/// The quota holds under concurrency: of 100 simultaneous creates by one tenant with a quota
/// of 5, exactly 5 are accepted and the rest are refused with `quota-exceeded`.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_stop_at_the_quota() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let replies = futures::future::join_all((0..100).map(|i| {
        let api = api.clone();
        let alice = alice.clone();
        async move {
            api.send(
                "POST",
                "/sandboxes",
                Some(&alice),
                Some(&json!({"name": format!("Rush {i}")})),
            )
            .await
        }
    }))
    .await;
    let accepted: Vec<&Reply> = replies.iter().filter(|r| r.status == 202).collect();
    let over = replies
        .iter()
        .filter(|r| r.status == 409 && r.problem() == "quota-exceeded")
        .count();
    assert_eq!(
        (accepted.len(), over),
        (5, 95),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let listed = api.send("GET", "/sandboxes?limit=100", Some(&alice), None).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(5),
        "{listed:?}"
    );
    for reply in accepted {
        api.wait_for(&alice, reply.body["id"].as_str().unwrap_or_default(), "started")
            .await;
    }
    stack.stop();
}

/// The same `Idempotency-Key` twice, also at once: one sandbox, one execution, the same answer.
#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_creates_one_sandbox() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let request = || {
        api.request("POST", "/sandboxes", Some(&alice))
            .header("idempotency-key", "order-42")
            .json(&json!({"name": "Once", "amq": true}))
    };
    let (first, second) = tokio::join!(Api::reply(request()), Api::reply(request()));
    let third = Api::reply(request()).await;
    for reply in [&first, &second, &third] {
        assert_eq!(reply.status, 202, "{reply:?}");
        assert_eq!(reply.body["id"], first.body["id"]);
        assert_eq!(reply.headers["location"], first.headers["location"]);
    }
    let listed = api.send("GET", "/sandboxes", Some(&alice), None).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "{listed:?}"
    );
    let id = first.body["id"].as_str().unwrap_or_default();
    api.wait_for(&alice, id, "started").await;
    let executions = sbx_e2e::sfn(&stack)
        .list_executions()
        .state_machine_arn(sbx_stack::state_machine_arn("create"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListExecutions: {e:?}"));
    assert_eq!(executions.executions().len(), 1, "{executions:?}");
    // After the work is done, the key still answers with the sandbox, and starts nothing.
    let later = Api::reply(request()).await;
    assert_eq!(
        (later.status, &later.body["id"], later.body["state"].as_str()),
        (202, &first.body["id"], Some("started"))
    );
    stack.stop();
}

/// schemathesis over `infra/openapi.yaml` against the local API, as a member and as an admin:
/// no 5xx, and every answer as the document says (`tests/schemathesis.toml` names the checks).
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let stack = stack(5).await;
    let api = Api::new(&stack);
    let root = root();
    let schemathesis = root.join(".venv/bin/schemathesis");
    assert!(
        schemathesis.exists(),
        "run scripts/setup: {} is missing",
        schemathesis.display()
    );
    let dir = std::env::temp_dir().join(format!("sbx-schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut requests = 0;
    for user in ["alice", "olivia"] {
        let token = api.token(user).await;
        let har = dir.join(format!("{user}.har"));
        let output = tokio::process::Command::new(&schemathesis)
            .arg("--config-file")
            .arg(root.join("tests/schemathesis.toml"))
            .arg("--no-color")
            .arg("run")
            .arg(root.join("infra/openapi.yaml"))
            .args(["--url", &api.base])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--max-examples", "40", "--seed", "20261123", "--workers", "1"])
            .args(["--report", "har", "--report-har-path"])
            .arg(&har)
            .current_dir(&dir)
            .output()
            .await
            .unwrap_or_else(|e| panic!("schemathesis did not run: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "schemathesis as {user} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let log: Value =
            serde_json::from_str(&std::fs::read_to_string(&har).unwrap_or_default()).unwrap_or_default();
        let entries = log["log"]["entries"].as_array().cloned().unwrap_or_default();
        for entry in &entries {
            let status = entry["response"]["status"].as_u64().unwrap_or_default();
            assert!(status < 500, "{}", entry["request"]);
        }
        requests += entries.len();
    }
    eprintln!("schemathesis sent {requests} requests");
    assert!(requests >= 500, "only {requests} requests were generated");
    let _ = std::fs::remove_dir_all(&dir);
    stack.stop();
}
