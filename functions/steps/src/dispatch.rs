//! Every step function by name, for running them all in one process: the local stack and the
//! end-to-end tests register [`FUNCTIONS`] with the engine and call [`invoke`]. A deployed
//! Lambda does not come through here: its binary names its own handler (`src/bin/<name>.rs`).
//! [`FUNCTIONS`] is the one list of the steps; the binaries, the template's functions and the
//! state machines' substitutions are tested against it.

use crate::context::Steps;
use crate::error::StepError;
use crate::lambda::typed;
use crate::sweep::{accounts, deadlines, drift, expired, locks, orphans, pool, spend, stuck};
use crate::{account, constellations, infrastructure, ingress, instances, lock, network, record};
use serde_json::Value;

/// The step functions, by the name of their Lambda (and of their binary).
pub const FUNCTIONS: [&str; 28] = [
    "begin-operation",
    "finish-operation",
    "acquire-lock",
    "release-lock",
    "allocate-account",
    "retire-account",
    "ensure-infrastructure",
    "release-infrastructure",
    "create-network",
    "delete-network",
    "launch-instances",
    "start-instances",
    "stop-instances",
    "terminate-instances",
    "check-instances",
    "register-ingress",
    "deregister-ingress",
    "install-constellations",
    "check-constellations",
    "release-stale-locks",
    "reconcile-stuck",
    "delete-expired",
    "run-deadlines",
    "meter-spend",
    "check-drift",
    "collect-orphans",
    "cycle-accounts",
    "grow-pool",
];

/// Runs the step function `name` on `payload`, with its handler's dependencies taken from
/// `steps`. Each arm passes exactly what the function's binary builds.
pub async fn invoke(steps: &Steps, name: &str, payload: Value) -> Result<Value, StepError> {
    let (store, aws, infra) = (&steps.store, &steps.accounts, &steps.infrastructure);
    let domain = steps.ingress_domain.as_str();
    let sandbox_images = steps.images.sandbox();
    let (sweep, workflows, organization) = (&steps.sweep, &steps.workflows, steps.organization.as_ref());
    match name {
        "begin-operation" => typed(payload, |i| record::begin(store, i)).await,
        "finish-operation" => typed(payload, |i| record::finish(store, i)).await,
        "acquire-lock" => typed(payload, |job| lock::acquire(store, job, steps.locks)).await,
        "release-lock" => typed(payload, |job| lock::release(store, job)).await,
        "allocate-account" => {
            typed(payload, |job| {
                account::allocate(store, &steps.management_ec2, &steps.images, job)
            })
            .await
        }
        "retire-account" => typed(payload, |job| account::retire(store, job)).await,
        "ensure-infrastructure" => {
            typed(payload, |job| {
                infrastructure::ensure(store, aws, infra, job, steps.locks.visibility)
            })
            .await
        }
        "release-infrastructure" => {
            typed(payload, |job| infrastructure::release(store, aws, infra, job)).await
        }
        "create-network" => typed(payload, |job| network::create(aws, job)).await,
        "delete-network" => typed(payload, |job| network::delete(aws, job)).await,
        "launch-instances" => typed(payload, |i| instances::launch(aws, &sandbox_images, i)).await,
        "start-instances" => typed(payload, |job| instances::start(aws, job)).await,
        "stop-instances" => typed(payload, |job| instances::stop(aws, job)).await,
        "terminate-instances" => typed(payload, |job| instances::terminate(aws, job)).await,
        "check-instances" => typed(payload, |i| instances::check(aws, i)).await,
        "register-ingress" => typed(payload, |job| ingress::register(aws, domain, job)).await,
        "deregister-ingress" => typed(payload, |job| ingress::deregister(aws, domain, job)).await,
        "install-constellations" => typed(payload, |job| constellations::install(aws, job)).await,
        "check-constellations" => typed(payload, |i| constellations::check(aws, i)).await,
        "release-stale-locks" => typed(payload, |i| locks::sweep(store, sweep, i)).await,
        "reconcile-stuck" => typed(payload, |i| stuck::reconcile(store, workflows, sweep, i)).await,
        "delete-expired" => typed(payload, |i| expired::sweep(store, workflows, sweep, i)).await,
        "run-deadlines" => typed(payload, |i| deadlines::sweep(store, workflows, aws, sweep, i)).await,
        "meter-spend" => {
            let pricing = steps.pricing()?;
            typed(payload, |i| spend::sweep(store, workflows, &pricing, sweep, i)).await
        }
        "check-drift" => {
            typed(payload, |i| {
                drift::check(store, steps.cost_explorer.as_ref(), sweep, i)
            })
            .await
        }
        "collect-orphans" => typed(payload, |i| orphans::collect(store, aws, infra, domain, sweep, i)).await,
        "cycle-accounts" => {
            typed(payload, |i| {
                accounts::cycle(store, aws, infra, organization, domain, sweep, i)
            })
            .await
        }
        "grow-pool" => typed(payload, |i| pool::grow(store, organization, sweep, i)).await,
        other => Err(StepError::NotFound(format!("no step function named {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Images, LockSettings};
    use crate::context::Settings;
    use sbx_aws::streaming::{StandIn, Streaming};
    use sbx_store::TableNames;
    use std::time::Duration;

    /// Every listed function has its handler here: an input that fits none is refused by the
    /// handler's input type (`Sbx.InvalidInput`), never as an unknown function.
    #[tokio::test]
    async fn every_listed_function_dispatches_to_its_handler() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let settings = Settings {
            images: Images {
                acp: "ami-a".into(),
                ocp: "ami-o".into(),
                proxy: "ami-p".into(),
            },
            provisioning_role: "sbx-provisioning".into(),
            ingress_domain: "sbx.test".into(),
            locks: LockSettings {
                lease: Duration::from_secs(60),
                visibility: Duration::ZERO,
            },
            proxy_instance_type: "t3.small".into(),
            sweep: crate::config::SweepSettings::default(),
            workflows: sbx_workflows::StepFunctions::new(
                sbx_transient::client!(aws_sdk_sfn, &config),
                ["create", "start", "stop", "delete"]
                    .map(|name| format!("arn:aws:states:us-east-1:1:stateMachine:{name}")),
            ),
            organization: None,
            quota: 10,
        };
        let streaming = Streaming::StandIn(std::sync::Arc::new(StandIn::default()));
        let steps = Steps::new(&config, settings, TableNames::with_prefix("t-"), streaming);
        for name in FUNCTIONS {
            let out = invoke(&steps, name, serde_json::json!({"not": "an input"})).await;
            assert!(matches!(out, Err(StepError::InvalidInput(_))), "{name}: {out:?}");
        }
        let unknown = invoke(&steps, "launch-instance", serde_json::json!({})).await;
        assert!(matches!(unknown, Err(StepError::NotFound(_))), "{unknown:?}");
    }
}
