//! The API's one route table (`sbx_api::routes::ROUTES`) against what is deployed and what is
//! documented: the template's HTTP API routes and authorizer, `infra/openapi.yaml`, and the
//! Lambda binaries. (What each route answers is checked against the document end to end, in
//! `api.rs`.)

use sbx_api::routes::{FUNCTIONS, ROUTES};
use sbx_e2e::root;
use serde_yaml::Value;
use std::collections::BTreeSet;

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (method, path, function, authorized) of every route.
type RouteRow = (String, String, String, bool);

fn table() -> BTreeSet<RouteRow> {
    ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
                r.authorized,
            )
        })
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[test]
fn the_templates_http_api_routes_are_the_route_table() {
    let template = yaml("infra/template.yaml");
    let mut routes = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().into_iter().flatten() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let properties = &resource["Properties"];
        let code = text(&properties["CodeUri"]);
        let function = code
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        for (_, event) in properties["Events"].as_mapping().into_iter().flatten() {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let event = &event["Properties"];
            let authorized = event["Auth"]["Authorizer"] != "NONE";
            routes.insert((
                text(&event["Method"]),
                text(&event["Path"]),
                function.clone(),
                authorized,
            ));
        }
    }
    assert_eq!(routes, table());
}

#[test]
fn the_authorizer_trusts_the_user_pool_and_its_app_client() {
    let template = yaml("infra/template.yaml");
    let api = &template["Resources"]["HttpApi"]["Properties"]["Auth"];
    let authorizer = &api["Authorizers"][text(&api["DefaultAuthorizer"]).as_str()];
    assert_eq!(authorizer["IdentitySource"], "$request.header.Authorization");
    let config = serde_yaml::to_string(&authorizer["JwtConfiguration"]).unwrap_or_default();
    assert!(
        config.contains("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"),
        "{config}"
    );
    assert!(config.contains("UserPoolClient"), "{config}");
    let pool = &template["Resources"]["UserPool"]["Properties"];
    let tenant = pool["Schema"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|a| a["Name"] == "tenant")
        .unwrap_or_else(|| panic!("custom:tenant in the user pool's schema"));
    assert_eq!(tenant["Mutable"], Value::Bool(false));
    assert_eq!(
        template["Resources"]["AdminsGroup"]["Properties"]["GroupName"],
        sbx_api::caller::ADMINS
    );
    let rules =
        serde_yaml::to_string(&template["Resources"]["ApiWebAcl"]["Properties"]["Rules"]).unwrap_or_default();
    assert!(rules.contains("RateBasedStatement"), "{rules}");
}

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    let doc = yaml("infra/openapi.yaml");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().into_iter().flatten() {
        for (method, operation) in item.as_mapping().into_iter().flatten() {
            let method = text(method);
            if method == "parameters" {
                continue;
            }
            let open = operation["security"].as_sequence().is_some_and(|s| s.is_empty());
            routes.insert((method.to_uppercase(), text(path), !open));
        }
    }
    let table: BTreeSet<(String, String, bool)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned(), r.authorized))
        .collect();
    assert_eq!(routes, table);
    let kinds: BTreeSet<String> = doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let emitted: BTreeSet<String> = sbx_api::problem::Kind::ALL
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    assert_eq!(kinds, emitted, "the problem types are those the functions emit");
}

#[test]
fn every_api_function_is_a_lambda_binary() {
    for function in FUNCTIONS {
        let binary = root().join(format!("functions/api/src/bin/{function}.rs"));
        assert!(binary.is_file(), "{function}: no {}", binary.display());
    }
}

/// `events/api/*.json` are API Gateway payload v2 requests of real routes, as `cargo lambda
/// invoke --data-file` sends them: they read as `lambda_http` requests, and each names a route
/// of the table with its function's claims (or none, for `POST /token`).
#[test]
fn the_sample_api_events_are_requests_of_real_routes() {
    let dir = root().join("events/api");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.map(|e| e.path()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let request =
            lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let key = sbx_api::route_key(&request).unwrap_or_else(|| panic!("{}: no route", path.display()));
        let route = ROUTES
            .iter()
            .find(|r| r.key() == key)
            .unwrap_or_else(|| panic!("{}: {key} is no route", path.display()));
        assert_eq!(
            sbx_api::caller::claims(&request).is_some(),
            route.authorized,
            "{}: claims exactly on guarded routes",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 4, "{seen} sample events");
}
