//! `cycle-accounts`: each account moves on through its life (SPEC: pool → assigned → expired
//! → cleaning → pool, or → quarantined).
//!
//! - An assigned account whose tenant has no live sandbox is expired: retention begins (the
//!   delete of a tenant's last sandbox expires it at once; this catches what that missed).
//! - An expired account past retention begins cleaning, unless its tenant has a live sandbox
//!   again, which takes it back. Beginning ends the tenant's assignment.
//! - A cleaning account is cleaned under its lock: every tagged sandbox torn down, the shared
//!   infrastructure deleted. Then an independent inventory ([`sbx_aws::Inventory::leftovers`])
//!   must find it empty. Empty: the cooldown begins, and once it is over the account goes back
//!   to the pool. Something left that will not go by itself (anything but what AWS is still
//!   deleting), or a cleanup step failing for the configured number of sweeps: quarantine,
//!   with a reason naming what was left or which call failed.
//! - Where an organization is configured, each account is placed in the unit of its state.

use super::orphans::{converge_none, tear_down};
use super::{Aws, Infra, Store, SweepInput, locked, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use crate::job::Job;
use crate::sandboxes;
use sbx_aws::inventory::Leftover;
use sbx_aws::{AccountFactory, Unit};
use sbx_store::{Account, AccountChange, AccountState, AccountStore, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountsReport {
    /// Each change made, as `<account>: <change>`.
    pub changed: Vec<String>,
    /// Cleaning attempts that failed, with why.
    pub failed: Vec<String>,
    /// Accounts moved to the organizational unit of their state.
    pub placed: Vec<String>,
}

/// The unit an account in `state` belongs in.
pub fn unit(state: AccountState) -> Unit {
    match state {
        AccountState::Pool => Unit::Pool,
        AccountState::Assigned => Unit::Customers,
        AccountState::Expired | AccountState::Cleaning => Unit::Expired,
        AccountState::Quarantined => Unit::Quarantine,
    }
}

pub async fn cycle(
    store: &impl Store,
    aws: &impl Aws,
    infra: &impl Infra,
    organization: Option<&impl AccountFactory>,
    domain: &str,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<AccountsReport, StepError> {
    let now = input.now(settings)?;
    let mut report = AccountsReport::default();
    for indexed in store.all_accounts(AccountState::Assigned).await? {
        let Some(account) = fresh(store, &indexed).await? else {
            continue;
        };
        let Some(tenant) = account.tenant.clone() else {
            continue;
        };
        if !sandboxes::live(store, &tenant).await?.is_empty() {
            continue;
        }
        let change = AccountChange::Expire { tenant };
        if apply(store, &account, change.clone()).await?.is_some() {
            record(&mut report, &account, &change);
        }
    }

    for indexed in store.all_accounts(AccountState::Expired).await? {
        let Some(account) = fresh(store, &indexed).await? else {
            continue;
        };
        let since = account.expired_at.unwrap_or(account.updated_at);
        if since + settings.retention > now {
            continue;
        }
        let change = match &account.tenant {
            Some(tenant) if !sandboxes::live(store, tenant).await?.is_empty() => AccountChange::Reuse {
                tenant: tenant.clone(),
            },
            _ => AccountChange::BeginCleaning,
        };
        if apply(store, &account, change.clone()).await?.is_some() {
            record(&mut report, &account, &change);
        }
    }

    for indexed in store.all_accounts(AccountState::Cleaning).await? {
        let Some(account) = fresh(store, &indexed).await? else {
            continue;
        };
        let account = match account.cleaned_at {
            Some(_) => account,
            None => match clean(store, aws, infra, domain, settings, &input.execution, &account).await? {
                Some((change, next)) => {
                    record(&mut report, &account, &change);
                    if let AccountChange::CleaningFailed { reason } = &change {
                        note(&mut report.failed, format!("{}: {reason}", account.account_id));
                    }
                    next
                }
                None => continue,
            },
        };
        if let Some(cleaned_at) = account.cleaned_at
            && cleaned_at + settings.cooldown <= now
            && apply(store, &account, AccountChange::Release).await?.is_some()
        {
            record(&mut report, &account, &AccountChange::Release);
        }
    }

    if let Some(organization) = organization {
        for state in AccountState::ALL {
            for account in store.all_accounts(state).await? {
                match organization.place(&account.account_id, unit(state)).await {
                    Ok(true) => note(
                        &mut report.placed,
                        format!("{}: {:?}", account.account_id, unit(state)),
                    ),
                    Ok(false) => {}
                    // An account outside the organization (added by hand) stays where it is.
                    Err(err) if err.has_code(&["AccountNotFoundException", "ChildNotFoundException"]) => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }
    Ok(report)
}

fn record(report: &mut AccountsReport, account: &Account, change: &AccountChange) {
    let what = match change {
        AccountChange::Quarantine { reason } | AccountChange::CleaningFailed { reason } => {
            format!("{}: {} ({reason})", account.account_id, change.name())
        }
        _ => format!("{}: {}", account.account_id, change.name()),
    };
    tracing::info!(change = %what, "account changed by the sweep");
    note(&mut report.changed, what);
}

/// Applies `change` unless another sweep or an allocation changed the account first
/// (`None`).
/// The account as it is now (a consistent read), if it is still in the state the index said:
/// an index may be behind, and no decision is made on what it shows.
async fn fresh(store: &impl AccountStore, indexed: &Account) -> Result<Option<Account>, StepError> {
    match store.account(&indexed.account_id).await {
        Ok(account) if account.state == indexed.state => Ok(Some(account)),
        Ok(_) | Err(StoreError::AccountNotFound { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Applies `change` to the account as it was read; `None` when another sweep, an allocation or
/// an admin changed it since (the next sweep decides anew), or when it was a no-op.
async fn apply(
    store: &impl AccountStore,
    account: &Account,
    change: AccountChange,
) -> Result<Option<Account>, StepError> {
    match store.change_account_from(account, change).await {
        Ok(Some(next)) if next.version != account.version => Ok(Some(next)),
        Ok(_) | Err(StoreError::AccountUnavailable { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// One cleaning attempt, under the account lock: the change it led to and the account after
/// it. `None` when the lock was busy or another sweep changed the account first.
async fn clean(
    store: &impl Store,
    aws: &impl Aws,
    infra: &impl Infra,
    domain: &str,
    settings: &SweepSettings,
    execution: &str,
    account: &Account,
) -> Result<Option<(AccountChange, Account)>, StepError> {
    let lock = Job::lock_name(&account.account_id);
    let attempted = locked(store, &lock, execution, async || {
        // Read again under the lock: only a sweep holding it moves a cleaning account on, so
        // the account cannot be cleaned, released and given to a tenant while this one works.
        match store.account(&account.account_id).await? {
            now if now.version == account.version => {}
            _ => return Ok(None),
        }
        // The attempt's own failure is an outcome to record, not an error of the sweep.
        Ok(Some(attempt(aws, infra, domain, account).await))
    })
    .await?;
    let Some(Some(outcome)) = attempted else {
        return Ok(None);
    };
    let change = match outcome {
        Ok(left) if left.is_empty() => AccountChange::Cleaned,
        Ok(left) => {
            let names: Vec<String> = left.iter().map(ToString::to_string).collect();
            let reason = format!("left behind: {}", names.join(", "));
            // What AWS is still removing may be gone at the next sweep: try again then.
            if left.iter().all(Leftover::is_settling) && account.attempts + 1 < settings.attempts {
                AccountChange::CleaningFailed { reason }
            } else {
                AccountChange::Quarantine { reason }
            }
        }
        Err(err) => {
            let reason = format!("cleanup failed: {err}");
            if account.attempts + 1 < settings.attempts {
                AccountChange::CleaningFailed { reason }
            } else {
                AccountChange::Quarantine {
                    reason: format!("{reason} ({} attempts)", account.attempts + 1),
                }
            }
        }
    };
    Ok(apply(store, account, change.clone())
        .await?
        .map(|next| (change, next)))
}

/// Tears down every sandbox tagged in the account and its shared infrastructure, then takes
/// the inventory: what is left.
async fn attempt(
    aws: &impl Aws,
    infra: &impl Infra,
    domain: &str,
    account: &Account,
) -> Result<Vec<Leftover>, StepError> {
    let id = account.account_id.as_str();
    for tagged in infra.tagged_sandboxes(id).await? {
        tear_down(aws, domain, id, &tagged).await?;
    }
    let tenant = account.tenant.as_deref().unwrap_or("none");
    converge_none(
        aws,
        infra,
        id,
        tenant,
        &format!("clean-{id}-v{}", account.version),
    )
    .await?;
    Ok(infra.leftovers(id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_aws_is_still_deleting_is_waited_for_and_the_rest_is_not() {
        use sbx_aws::infra::NatGatewayState;
        use sbx_aws::instances::InstanceState;
        use sbx_aws::inventory::{LeftoverKind, LeftoverState};
        let leftover = |kind, id: &str, state| Leftover {
            kind,
            id: id.to_owned(),
            state,
        };
        let deleting = leftover(
            LeftoverKind::NatGateway,
            "nat-1",
            Some(LeftoverState::NatGateway(NatGatewayState::Deleting)),
        );
        let shutting_down = leftover(
            LeftoverKind::Instance,
            "i-1",
            Some(LeftoverState::Instance(InstanceState::ShuttingDown)),
        );
        let running = leftover(
            LeftoverKind::Instance,
            "i-2",
            Some(LeftoverState::Instance(InstanceState::Running)),
        );
        let subnet = leftover(LeftoverKind::Subnet, "subnet-1", None);
        assert!(deleting.is_settling() && shutting_down.is_settling());
        assert!(!running.is_settling() && !subnet.is_settling());
        // A quarantine reason names each as before.
        assert_eq!(deleting.to_string(), "nat-gateway nat-1 (deleting)");
        assert_eq!(running.to_string(), "instance i-2 (running)");
        assert_eq!(subnet.to_string(), "subnet subnet-1");
        let fleet = leftover(LeftoverKind::StreamingFleet, "", None);
        assert_eq!(fleet.to_string(), "streaming fleet");
    }

    #[tokio::test]
    async fn no_change_is_made_on_an_account_read_before_another_change() {
        let store = sbx_fakes::FakeStore::default();
        store.pool(sbx_fakes::ACCOUNT);
        let read = store
            .account(sbx_fakes::ACCOUNT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(store.allocate("acme").await.is_ok());
        let stale = apply(
            &store,
            &read,
            AccountChange::Assign {
                tenant: "globex".into(),
            },
        )
        .await;
        assert!(matches!(stale, Ok(None)), "{stale:?}");
        let changed = fresh(&store, &read).await.ok().flatten();
        assert!(
            changed.is_none(),
            "the index said pool; the account is assigned now"
        );
        let now = store
            .account(sbx_fakes::ACCOUNT)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let expired = apply(
            &store,
            &now,
            AccountChange::Expire {
                tenant: "acme".into(),
            },
        )
        .await;
        assert_eq!(
            expired.ok().flatten().map(|a| a.state),
            Some(AccountState::Expired)
        );
    }

    #[test]
    fn each_state_has_its_unit() {
        assert_eq!(unit(AccountState::Pool), Unit::Pool);
        assert_eq!(unit(AccountState::Assigned), Unit::Customers);
        assert_eq!(unit(AccountState::Cleaning), Unit::Expired);
        assert_eq!(unit(AccountState::Quarantined), Unit::Quarantine);
    }
}
