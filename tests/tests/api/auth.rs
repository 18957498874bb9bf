//! The gateway's JWT authorizer, as API Gateway's: every kind of bad token, on every guarded route.

use crate::stack;
use sbx_e2e::api::{Api, Signer, claims_of, forge};
use serde_json::{Value, json};

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
