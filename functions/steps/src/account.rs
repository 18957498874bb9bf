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
