//! The document and the behaviours agree: run one after another, each on a stack of its own,
//! the behaviours see exactly the (route, status) pairs `infra/openapi.yaml` lists, but for
//! those only a failing dependency produces (5xx, and 429 from Cognito's throttling).

use crate::{BEHAVIOURS, Ctx, Seen};
use sbx_e2e::root;
use serde_json::Value;
use std::collections::BTreeSet;

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

#[tokio::test(flavor = "multi_thread")]
async fn the_behaviours_see_exactly_the_documented_answers() {
    let mut seen = Seen::default();
    for (name, behaviour) in BEHAVIOURS {
        let ctx = Ctx::new().await;
        let before = seen.0.len();
        behaviour(&ctx, &mut seen).await;
        assert!(seen.0.len() >= before, "{name}");
        ctx.stack.stop();
    }
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
}

/// Every behaviour a route module tests is also in [`BEHAVIOURS`], so that none is left out of
/// the coverage above.
#[test]
fn every_tested_behaviour_is_listed() {
    let dir = root().join("tests/tests/api");
    let mut tested = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let module = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let Some(start) = text.find("\nbehaviour_tests!(") else {
            continue;
        };
        let args = &text[start + "\nbehaviour_tests!(".len()..];
        let args = &args[..args.find(')').unwrap_or(0)];
        for name in args.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            tested.insert(format!("{module}::{name}"));
        }
    }
    let listed: BTreeSet<String> = BEHAVIOURS.iter().map(|(name, _)| name.replace(' ', "")).collect();
    assert!(tested.len() >= 20, "{tested:?}");
    assert_eq!(tested, listed);
}
