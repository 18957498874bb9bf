//! The behaviours hold, and agree with the document: run each on a stack of its own, they see
//! exactly the (route, status) pairs `infra/openapi.yaml` lists, but for those only a failing
//! dependency produces (5xx, and 429 from Cognito's throttling). A behaviour left out of
//! [`BEHAVIOURS`] is dead code, which the build refuses.

use crate::{BEHAVIOURS, Ctx, Seen};
use futures::StreamExt;
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

/// How many behaviours run at once, each on its own stack: the machine's 2 cores are shared
/// with the other tests nextest runs beside this one.
const AT_ONCE: usize = 2;

/// Every behaviour of [`BEHAVIOURS`], each on a stack of its own (`SBX_API_BEHAVIOURS=text`
/// runs only those whose name contains `text`, without the document check): each must hold,
/// and together they must see exactly the (route, status) pairs the document lists. A failing
/// behaviour is named, and the others still run.
#[tokio::test(flavor = "multi_thread")]
async fn every_behaviour_holds_and_they_see_exactly_the_documented_answers() {
    let only = std::env::var("SBX_API_BEHAVIOURS").ok();
    let selected: Vec<_> = BEHAVIOURS
        .iter()
        .filter(|(name, _)| {
            only.as_deref()
                .is_none_or(|text| name.replace(' ', "").contains(text))
        })
        .collect();
    assert!(!selected.is_empty(), "no behaviour is named like {only:?}");
    let outcomes: Vec<(&str, Result<Seen, String>)> = futures::stream::iter(selected)
        .map(|&(name, behaviour)| async move {
            let run = tokio::spawn(async move {
                let ctx = Ctx::new().await;
                let mut seen = Seen::default();
                behaviour(&ctx, &mut seen).await;
                ctx.stack.stop();
                seen
            });
            (name, run.await.map_err(|e| e.to_string()))
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let mut seen = Seen::default();
    let mut failed = Vec::new();
    for (name, outcome) in outcomes {
        match outcome {
            Ok(each) => seen.0.extend(each.0),
            Err(err) => failed.push(format!("{name}: {err}")),
        }
    }
    assert!(
        failed.is_empty(),
        "behaviours that failed (their panics are above): {failed:#?}"
    );
    if only.is_some() {
        return;
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
