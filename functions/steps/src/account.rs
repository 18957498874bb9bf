//! `allocate-account` and `retire-account`: the tenant's account from the pool, with the
//! machine images shared with it; and marking it expired when its last sandbox is gone.

use crate::config::Images;
use crate::error::StepError;
use crate::job::Job;
use crate::sandboxes;
use sbx_aws::ImageSharing;
use sbx_store::{AccountStore, SandboxStore};
use serde::Serialize;

/// Allocates (or reuses) the tenant's account, shares the images with it, and records it on
/// the sandbox. Returns the job with its account.
pub async fn allocate(
    store: &(impl AccountStore + SandboxStore),
    sharing: &impl ImageSharing,
    images: &Images,
    mut job: Job,
) -> Result<Job, StepError> {
    let account = store.allocate(&job.tenant).await?;
    sharing.share(&images.all(), &account.account_id).await?;
    store
        .assign_account(&job.tenant, &job.sandbox_id, &account.account_id)
        .await?;
    job.account_id = Some(account.account_id);
    Ok(job)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetireOutput {
    pub expired: bool,
}

/// Marks the tenant's account expired when no sandbox but this one (being deleted) is left.
pub async fn retire(store: &(impl AccountStore + SandboxStore), job: Job) -> Result<RetireOutput, StepError> {
    let Some(account) = job.account_id.as_deref() else {
        return Ok(RetireOutput { expired: false });
    };
    let others = sandboxes::live(store, &job.tenant)
        .await?
        .into_iter()
        .filter(|sandbox| sandbox.id != job.sandbox_id)
        .count();
    if others > 0 {
        return Ok(RetireOutput { expired: false });
    }
    store.expire(&job.tenant, account).await?;
    Ok(RetireOutput { expired: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::test_job as job;
    use sbx_fakes::{ACCOUNT, FakeAws, FakeStore};
    use sbx_lifecycle::{SandboxOptions, State};

    fn images() -> Images {
        Images {
            acp: "ami-acp".into(),
            ocp: "ami-ocp".into(),
            proxy: "ami-proxy".into(),
        }
    }

    #[tokio::test]
    async fn allocating_shares_every_image_and_records_the_account_once() {
        let (store, aws) = (FakeStore::default(), FakeAws::default());
        store.pool(ACCOUNT);
        store.add("s1", State::Initializing, SandboxOptions::default());
        for _ in 0..2 {
            let out = allocate(&store, &aws, &images(), job("create", None)).await;
            assert_eq!(out.ok().and_then(|j| j.account_id).as_deref(), Some(ACCOUNT));
        }
        assert_eq!(
            aws.state().shared.get(ACCOUNT).cloned(),
            Some(vec!["ami-acp".into(), "ami-ocp".into(), "ami-proxy".into()])
        );
        let account = store.account(ACCOUNT).await.map(|a| (a.state, a.tenant));
        assert_eq!(
            account.ok(),
            Some((sbx_store::AccountState::Assigned, Some("acme".into())))
        );
    }

    #[tokio::test]
    async fn an_empty_pool_and_a_failed_share_are_failures() {
        let (store, aws) = (FakeStore::default(), FakeAws::default());
        let empty = allocate(&store, &aws, &images(), job("create", None)).await;
        assert!(matches!(empty, Err(StepError::PoolExhausted(_))), "{empty:?}");
        store.pool(ACCOUNT);
        aws.fail_with("InvalidAMIID.NotFound");
        let unshared = allocate(&store, &aws, &images(), job("create", None)).await;
        assert!(unshared.is_err(), "{unshared:?}");
    }

    #[tokio::test]
    async fn retiring_expires_the_account_only_when_no_other_sandbox_is_left() {
        let store = FakeStore::default();
        store.pool(ACCOUNT);
        assert!(store.allocate("acme").await.is_ok());
        store.add("s1", State::Deleting, SandboxOptions::default());
        store.add("s2", State::Stopped, SandboxOptions::default());
        let kept = retire(&store, job("delete", Some(ACCOUNT))).await;
        assert_eq!(kept.ok(), Some(RetireOutput { expired: false }));
        store.put_state("s2", State::Deleted);
        let expired = retire(&store, job("delete", Some(ACCOUNT))).await;
        assert_eq!(expired.ok(), Some(RetireOutput { expired: true }));
        let account = store.account(ACCOUNT).await.map(|a| a.state);
        assert_eq!(account.ok(), Some(sbx_store::AccountState::Expired));
        let no_account = retire(&store, job("delete", None)).await;
        assert_eq!(no_account.ok(), Some(RetireOutput { expired: false }));
    }
}
