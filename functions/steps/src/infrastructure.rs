//! `ensure-infrastructure` and `release-infrastructure`: the account's shared infrastructure
//! follows its active sandboxes (SPEC: it exists exactly while at least one sandbox of the
//! account is active). Both run under the account lock, check that they still hold it, and
//! journal what they did with when they began and ended.

use crate::context::Steps;
use crate::error::StepError;
use crate::job::Job;
use crate::{lock, sandboxes};
use sbx_aws::infra::{self, ProxySpec, Want};
use sbx_aws::network;
use sbx_store::{AccountStore, InfraChange};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InfraOutput {
    pub changes: Vec<String>,
}

/// What the tenant's active sandboxes need; `exclude` is the sandbox whose need is ending.
async fn wanted(steps: &Steps, job: &Job, exclude: Option<&str>) -> Result<Want, StepError> {
    let mut want = Want::default();
    for sandbox in sandboxes::live(&steps.store, &job.tenant).await? {
        if !sandbox.state.is_active() || Some(sandbox.id.as_str()) == exclude {
            continue;
        }
        want.base = true;
        want.nlb |= sandbox.options.amq;
        want.fleet |= sandbox.options.smart_client;
    }
    Ok(want)
}

/// Creates what the account's active sandboxes, this one included, need.
pub async fn ensure(steps: &Steps, job: Job) -> Result<InfraOutput, StepError> {
    let mut want = wanted(steps, &job, None).await?;
    // This job's sandbox is active by definition while it needs the infrastructure.
    want.base = true;
    want.nlb |= job.options.amq;
    want.fleet |= job.options.smart_client;
    converge(steps, &job, want, Network::Ensure).await
}

/// Removes what no active sandbox other than this one needs any more.
pub async fn release(steps: &Steps, job: Job) -> Result<InfraOutput, StepError> {
    if job.account_id.is_none() {
        return Ok(InfraOutput { changes: Vec::new() });
    }
    let want = wanted(steps, &job, Some(&job.sandbox_id)).await?;
    converge(steps, &job, want, Network::Existing).await
}

/// Whether converging may create the account's network, or uses only what exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Network {
    Ensure,
    Existing,
}

async fn converge(steps: &Steps, job: &Job, want: Want, network: Network) -> Result<InfraOutput, StepError> {
    let verb = match network {
        Network::Ensure => "ensure",
        Network::Existing => "release",
    };
    let account = job.account()?;
    lock::ensure_held(&steps.store, job, account).await?;
    let started_at = chrono::Utc::now();
    let clients = steps.account(account).await;
    let owner = job.account_owner(account);
    let network = match network {
        Network::Ensure => {
            Some(network::ensure_account_network(&clients.ec2, &owner, &steps.settings.region).await?)
        }
        Network::Existing => network::account_network(&clients.ec2, &owner).await?,
    };
    let proxy = ProxySpec {
        image_id: steps.settings.images.proxy.clone(),
        instance_type: steps.settings.proxy_instance_type.clone(),
    };
    let changes = infra::converge(
        &clients,
        &owner,
        network.as_ref(),
        want,
        &proxy,
        &steps.streaming,
        &job.client_token("infra"),
    )
    .await?;
    let change = InfraChange {
        account_id: account.to_owned(),
        owner: job.execution.clone(),
        action: format!(
            "{verb}: {}",
            if changes.is_empty() {
                "nothing".to_owned()
            } else {
                changes.join(", ")
            }
        ),
        started_at,
        ended_at: chrono::Utc::now(),
    };
    steps.store.record_infra_change(&change).await?;
    tracing::info!(account, action = %change.action, "infrastructure converged");
    Ok(InfraOutput { changes })
}
