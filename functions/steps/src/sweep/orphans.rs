//! `collect-orphans`: in every account that serves a tenant, the resources tagged with a
//! sandbox whose record is deleted or missing are removed (routes, instances, subnet, security
//! group), and shared infrastructure that no active sandbox needs is released under the
//! account lock. What cannot be removed yet (an instance still shutting down holds its subnet)
//! is reported and tried again by the next sweep.

use super::{Aws, Infra, Store, SweepInput, locked, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use crate::job::{Job, host};
use crate::sandboxes;
use sbx_aws::infra::Want;
use sbx_aws::inventory::TaggedSandbox;
use sbx_aws::{Ingress, Networks, Owner, SharedInfrastructure, Vms};
use sbx_lifecycle::State;
use sbx_store::{AccountState, InfraChange, SandboxStore, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrphansReport {
    pub accounts: usize,
    /// Sandboxes whose resources were removed: account, tenant and id.
    pub removed: Vec<String>,
    /// Orphans that could not be removed yet, with why.
    pub pending: Vec<String>,
    /// Accounts whose idle shared infrastructure was released, with what changed.
    pub released: Vec<String>,
}

pub async fn collect(
    store: &impl Store,
    aws: &impl Aws,
    infra: &impl Infra,
    domain: &str,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<OrphansReport, StepError> {
    input.now(settings)?;
    let mut report = OrphansReport::default();
    for state in [AccountState::Assigned, AccountState::Expired] {
        for account in store.all_accounts(state).await? {
            report.accounts += 1;
            let account_id = account.account_id.as_str();
            for tagged in infra.tagged_sandboxes(account_id).await? {
                if !is_orphan(store, &tagged).await? {
                    continue;
                }
                let who = format!("{account_id}/{}/{}", tagged.tenant, tagged.sandbox);
                match tear_down(aws, domain, account_id, &tagged).await {
                    Ok(()) => {
                        tracing::warn!(orphan = %who, "orphaned resources removed");
                        note(&mut report.removed, who);
                    }
                    Err(err) => note(&mut report.pending, format!("{who}: {err}")),
                }
            }
            let Some(tenant) = account.tenant.as_deref() else {
                continue;
            };
            if let Some(changes) =
                release_idle(store, aws, infra, account_id, tenant, &input.execution).await?
            {
                note(
                    &mut report.released,
                    format!("{account_id}: {}", changes.join(", ")),
                );
            }
        }
    }
    Ok(report)
}

/// Whether the sandbox the resources are tagged with is deleted or has no record.
async fn is_orphan(store: &impl SandboxStore, tagged: &TaggedSandbox) -> Result<bool, StepError> {
    if sbx_lifecycle::rules::id("tenant", &tagged.tenant).is_err()
        || sbx_lifecycle::rules::id("sandbox", &tagged.sandbox).is_err()
    {
        return Ok(true);
    }
    match store.get(&tagged.tenant, &tagged.sandbox).await {
        Ok(sandbox) => Ok(sandbox.state == State::Deleted),
        Err(StoreError::NotFound { .. }) => Ok(true),
        Err(err) => Err(err.into()),
    }
}

/// Removes everything of the sandbox in the account: its routes, its instances, then its
/// subnet and security group. Each part skips what is gone already.
pub(crate) async fn tear_down(
    aws: &(impl Vms + Networks + Ingress),
    domain: &str,
    account: &str,
    tagged: &TaggedSandbox,
) -> Result<(), StepError> {
    let owner = Owner::Sandbox {
        tenant: tagged.tenant.clone(),
        sandbox: tagged.sandbox.clone(),
    };
    aws.deregister(
        account,
        &tagged.tenant,
        &tagged.sandbox,
        &host(&tagged.tenant, &tagged.sandbox, domain),
    )
    .await?;
    let vms: Vec<String> = aws
        .find(account, &owner)
        .await?
        .into_iter()
        .map(|vm| vm.id)
        .collect();
    if !vms.is_empty() {
        aws.terminate(account, &vms).await?;
    }
    aws.delete_sandbox_network(account, &owner).await?;
    Ok(())
}

/// Under the account lock, releases the shared infrastructure of an account none of whose
/// sandboxes is active. `None` when there was nothing to release or the lock was busy.
pub(crate) async fn release_idle(
    store: &impl Store,
    networks: &impl Networks,
    infra: &impl SharedInfrastructure,
    account: &str,
    tenant: &str,
    execution: &str,
) -> Result<Option<Vec<String>>, StepError> {
    if any_active(store, tenant).await? {
        return Ok(None);
    }
    let lock = Job::lock_name(account);
    let released = locked(store, &lock, execution, async || {
        // Checked again under the lock, on a consistent read: the account still serves this
        // tenant (an index may be behind), and no create began meanwhile that needs what is there.
        let account = store.account(account).await?;
        let serves = matches!(account.state, AccountState::Assigned | AccountState::Expired)
            && account.tenant.as_deref() == Some(tenant);
        if !serves || any_active(store, tenant).await? {
            return Ok(None);
        }
        let account = account.account_id.as_str();
        let started_at = chrono::Utc::now();
        let changes = converge_none(networks, infra, account, tenant, execution).await?;
        if changes.is_empty() {
            return Ok(None);
        }
        store
            .record_infra_change(&InfraChange {
                account_id: account.to_owned(),
                owner: execution.to_owned(),
                action: format!("release (sweep): {}", changes.join(", ")),
                started_at,
                ended_at: chrono::Utc::now(),
            })
            .await?;
        Ok(Some(changes))
    })
    .await?;
    Ok(released.flatten())
}

/// Deletes all of the account's shared infrastructure, as far as it can now; returns what it
/// changed, and what is still going (`still nat deleting`).
pub(crate) async fn converge_none(
    networks: &impl Networks,
    infra: &impl SharedInfrastructure,
    account: &str,
    tenant: &str,
    execution: &str,
) -> Result<Vec<String>, StepError> {
    let owner = Owner::Account {
        tenant: tenant.to_owned(),
        account: account.to_owned(),
    };
    let network = networks.account_network(account, &owner).await?;
    let name = execution.rsplit(':').next().unwrap_or(execution);
    let token = sbx_aws::tags::client_token(name, "gc-infra");
    let done = infra
        .converge(account, &owner, network.as_ref(), Want::default(), &token)
        .await?;
    // What AWS is still deleting (a NAT gateway, then its address) the next sweep finishes.
    let mut changes = done.changes;
    changes.extend(done.waiting.into_iter().map(|w| format!("still {w}")));
    Ok(changes)
}

async fn any_active(store: &impl SandboxStore, tenant: &str) -> Result<bool, StepError> {
    Ok(sandboxes::live(store, tenant)
        .await?
        .iter()
        .any(|s| s.state.is_active()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::test_settings;
    use sbx_aws::instances::InstanceState;
    use sbx_aws::{Inventory, Networks};
    use sbx_fakes::{ACCOUNT, FakeAws, FakeStore};
    use sbx_store::AccountStore;

    fn owner(sandbox: &str) -> Owner {
        Owner::Sandbox {
            tenant: "acme".into(),
            sandbox: sandbox.into(),
        }
    }

    #[tokio::test]
    async fn resources_of_a_sandbox_without_a_live_record_are_removed_and_the_live_ones_kept() {
        let store = FakeStore::default();
        let aws = FakeAws::default();
        store.pool(ACCOUNT);
        store.allocate("acme").await.unwrap_or_else(|e| panic!("{e}"));
        let network = aws.add_account_network(ACCOUNT);
        // A live sandbox, a deleted one whose instance was left, and one with no record at all.
        store.add("sb-live", State::Started, Default::default());
        store.add("sb-gone", State::Deleted, Default::default());
        for sandbox in ["sb-live", "sb-gone", "sb-ghost"] {
            aws.add_vm(ACCOUNT, &owner(sandbox), "acp", InstanceState::Running);
            aws.create_sandbox_network(ACCOUNT, &owner(sandbox), &network, ("acme", sandbox))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let input = SweepInput {
            execution: "arn:gc:3".into(),
            as_of: None,
        };
        let report = collect(&store, &aws, &aws, "sandboxes.test", &test_settings(false), input)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut removed = report.removed.clone();
        removed.sort();
        assert_eq!(
            removed,
            [
                format!("{ACCOUNT}/acme/sb-ghost"),
                format!("{ACCOUNT}/acme/sb-gone")
            ],
            "{report:?}"
        );
        let left: Vec<String> = aws
            .tagged_sandboxes(ACCOUNT)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.sandbox)
            .collect();
        assert_eq!(left, ["sb-live"], "only the live sandbox keeps its resources");
        // An active sandbox keeps the account's shared infrastructure.
        assert!(report.released.is_empty(), "{report:?}");
        assert_eq!(
            store.account(ACCOUNT).await.map(|a| a.account_id).ok(),
            Some(ACCOUNT.to_owned())
        );
    }
}
