//! Every step function, built one way: each takes from the [`Init`] only what its handler uses,
//! and runs the handler on the payload. A deployed Lambda serves one of them (its binary,
//! `src/bin/<name>.rs`, names it); the local stack and the end-to-end tests call them by name
//! ([`invoke`]). [`FUNCTIONS`] is the one list of the steps: the binaries, the template's
//! functions and the state machines' substitutions are tested against it.

use crate::error::StepError;
use crate::lambda::{Init, typed};
use crate::sweep::{accounts, deadlines, drift, expired, locks, orphans, pool, spend, stuck};
use crate::{account, constellations, infrastructure, ingress, instances, lock, network, record};
use serde_json::Value;

/// The result of a step function: its output, or its error with its `Sbx.*` name.
type Output = Result<Value, StepError>;

pub async fn begin_operation(init: &Init, payload: Value) -> Output {
    let store = init.store()?;
    typed(payload, |input| record::begin(store, input)).await
}

pub async fn finish_operation(init: &Init, payload: Value) -> Output {
    let store = init.store()?;
    typed(payload, |input| record::finish(store, input)).await
}

pub async fn acquire_lock(init: &Init, payload: Value) -> Output {
    let (locks, timing) = (init.lock_table()?, init.lock_settings()?);
    typed(payload, |job| lock::acquire(locks, job, timing)).await
}

pub async fn release_lock(init: &Init, payload: Value) -> Output {
    let locks = init.lock_table()?;
    typed(payload, |job| lock::release(locks, job)).await
}

pub async fn allocate_account(init: &Init, payload: Value) -> Output {
    let (store, images, management) = (init.store()?, init.images()?, init.management_ec2());
    typed(payload, |job| account::allocate(store, management, images, job)).await
}

pub async fn retire_account(init: &Init, payload: Value) -> Output {
    let store = init.store()?;
    typed(payload, |job| account::retire(store, job)).await
}

pub async fn ensure_infrastructure(init: &Init, payload: Value) -> Output {
    let (store, accounts, infra) = (init.store()?, init.accounts(), init.infrastructure()?);
    let visibility = init.lock_settings()?.visibility;
    typed(payload, |job| {
        infrastructure::ensure(store, accounts, infra, job, visibility)
    })
    .await
}

pub async fn release_infrastructure(init: &Init, payload: Value) -> Output {
    let (store, accounts, infra) = (init.store()?, init.accounts(), init.infrastructure()?);
    typed(payload, |job| {
        infrastructure::release(store, accounts, infra, job)
    })
    .await
}

pub async fn create_network(init: &Init, payload: Value) -> Output {
    typed(payload, |job| network::create(init.accounts(), job)).await
}

pub async fn delete_network(init: &Init, payload: Value) -> Output {
    typed(payload, |job| network::delete(init.accounts(), job)).await
}

pub async fn launch_instances(init: &Init, payload: Value) -> Output {
    let images = init.sandbox_images()?;
    typed(payload, |input| instances::launch(init.accounts(), images, input)).await
}

pub async fn start_instances(init: &Init, payload: Value) -> Output {
    typed(payload, |job| instances::start(init.accounts(), job)).await
}

pub async fn stop_instances(init: &Init, payload: Value) -> Output {
    typed(payload, |job| instances::stop(init.accounts(), job)).await
}

pub async fn terminate_instances(init: &Init, payload: Value) -> Output {
    typed(payload, |job| instances::terminate(init.accounts(), job)).await
}

pub async fn check_instances(init: &Init, payload: Value) -> Output {
    typed(payload, |input| instances::check(init.accounts(), input)).await
}

pub async fn register_ingress(init: &Init, payload: Value) -> Output {
    let domain = init.ingress_domain();
    typed(payload, |job| ingress::register(init.accounts(), domain, job)).await
}

pub async fn deregister_ingress(init: &Init, payload: Value) -> Output {
    let domain = init.ingress_domain();
    typed(payload, |job| ingress::deregister(init.accounts(), domain, job)).await
}

pub async fn install_constellations(init: &Init, payload: Value) -> Output {
    typed(payload, |job| constellations::install(init.accounts(), job)).await
}

pub async fn check_constellations(init: &Init, payload: Value) -> Output {
    typed(payload, |input| constellations::check(init.accounts(), input)).await
}

pub async fn release_stale_locks(init: &Init, payload: Value) -> Output {
    let (store, settings) = (init.store()?, init.sweep_settings()?);
    typed(payload, |input| locks::sweep(store, settings, input)).await
}

pub async fn reconcile_stuck(init: &Init, payload: Value) -> Output {
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    typed(payload, |input| {
        stuck::reconcile(store, workflows, settings, input)
    })
    .await
}

pub async fn delete_expired(init: &Init, payload: Value) -> Output {
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    typed(payload, |input| expired::sweep(store, workflows, settings, input)).await
}

pub async fn run_deadlines(init: &Init, payload: Value) -> Output {
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    let (accounts, pricing) = (init.accounts(), init.pricing()?);
    typed(payload, |input| {
        deadlines::sweep(store, workflows, accounts, pricing, settings, input)
    })
    .await
}

pub async fn meter_spend(init: &Init, payload: Value) -> Output {
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    let pricing = init.pricing()?;
    typed(payload, |input| {
        spend::sweep(store, workflows, pricing, settings, input)
    })
    .await
}

pub async fn check_drift(init: &Init, payload: Value) -> Output {
    let (store, settings, costs) = (init.store()?, init.sweep_settings()?, init.cost_explorer());
    typed(payload, |input| drift::check(store, costs, settings, input)).await
}

pub async fn collect_orphans(init: &Init, payload: Value) -> Output {
    let (store, accounts, infra) = (init.store()?, init.accounts(), init.infrastructure()?);
    let (domain, settings) = (init.ingress_domain(), init.sweep_settings()?);
    typed(payload, |input| {
        orphans::collect(store, accounts, infra, domain, settings, input)
    })
    .await
}

pub async fn cycle_accounts(init: &Init, payload: Value) -> Output {
    let (store, accounts, infra) = (init.store()?, init.accounts(), init.infrastructure()?);
    let (domain, settings, organization) = (
        init.ingress_domain(),
        init.sweep_settings()?,
        init.organization()?,
    );
    typed(payload, |input| {
        accounts::cycle(store, accounts, infra, organization, domain, settings, input)
    })
    .await
}

pub async fn grow_pool(init: &Init, payload: Value) -> Output {
    let (store, settings, organization) = (init.store()?, init.sweep_settings()?, init.organization()?);
    typed(payload, |input| pool::grow(store, organization, settings, input)).await
}

/// The step functions by the name of their Lambda (and of their binary): [`FUNCTIONS`] and
/// [`invoke`] from one table.
macro_rules! by_name {
    ($($name:literal => $function:ident,)*) => {
        /// The step functions, by the name of their Lambda (and of their binary).
        pub const FUNCTIONS: &[&str] = &[$($name),*];

        /// Runs the step function `name` on `payload`, as its Lambda would.
        pub async fn invoke(init: &Init, name: &str, payload: Value) -> Output {
            match name {
                $($name => $function(init, payload).await,)*
                other => Err(StepError::NotFound(format!("no step function named {other}"))),
            }
        }
    };
}

by_name! {
    "begin-operation" => begin_operation,
    "finish-operation" => finish_operation,
    "acquire-lock" => acquire_lock,
    "release-lock" => release_lock,
    "allocate-account" => allocate_account,
    "retire-account" => retire_account,
    "ensure-infrastructure" => ensure_infrastructure,
    "release-infrastructure" => release_infrastructure,
    "create-network" => create_network,
    "delete-network" => delete_network,
    "launch-instances" => launch_instances,
    "start-instances" => start_instances,
    "stop-instances" => stop_instances,
    "terminate-instances" => terminate_instances,
    "check-instances" => check_instances,
    "register-ingress" => register_ingress,
    "deregister-ingress" => deregister_ingress,
    "install-constellations" => install_constellations,
    "check-constellations" => check_constellations,
    "release-stale-locks" => release_stale_locks,
    "reconcile-stuck" => reconcile_stuck,
    "delete-expired" => delete_expired,
    "run-deadlines" => run_deadlines,
    "meter-spend" => meter_spend,
    "check-drift" => check_drift,
    "collect-orphans" => collect_orphans,
    "cycle-accounts" => cycle_accounts,
    "grow-pool" => grow_pool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Vars;

    /// Every listed function has its handler here: an input that fits none is refused by the
    /// handler's input type (`Sbx.InvalidInput`), never as an unknown function, once the
    /// function has the environment the template gives it.
    #[tokio::test]
    async fn every_listed_function_dispatches_to_its_handler() {
        let init = Init::from_vars(Vars::from_fn(|name| {
            let value = match name {
                "AWS_REGION" => "us-east-1",
                "SBX_ACP_IMAGE_ID" | "SBX_OCP_IMAGE_ID" | "SBX_PROXY_IMAGE_ID" => "ami-1",
                "SBX_MANAGEMENT_ACCOUNT_ID" => "000000000000",
                name if name.ends_with("_TABLE") => "t-table",
                name if name.ends_with("_STATE_MACHINE_ARN") => "arn:aws:states:us-east-1:1:stateMachine:x",
                _ => return None,
            };
            Some(value.to_owned())
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        for name in FUNCTIONS {
            let out = invoke(&init, name, serde_json::json!({"not": "an input"})).await;
            assert!(matches!(out, Err(StepError::InvalidInput(_))), "{name}: {out:?}");
        }
        let unknown = invoke(&init, "launch-instance", serde_json::json!({})).await;
        assert!(matches!(unknown, Err(StepError::NotFound(_))), "{unknown:?}");
    }

    /// A function without a setting it uses fails naming the variable, as a permanent failure.
    #[tokio::test]
    async fn a_missing_setting_is_named() {
        let init = Init::from_vars(Vars::from_fn(|name| {
            (name == "AWS_REGION").then(|| "us-east-1".to_owned())
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let out = invoke(&init, "launch-instances", serde_json::json!({})).await;
        assert!(
            matches!(&out, Err(StepError::Failed(message)) if message.contains("SBX_ACP_IMAGE_ID")),
            "{out:?}"
        );
    }
}
