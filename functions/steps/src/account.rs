//! `allocate-account` and `retire-account`: the tenant's account from the pool, with the
//! machine images shared with it; and marking it expired when its last sandbox is gone.

use crate::context::Steps;
use crate::error::StepError;
use crate::job::Job;
use crate::sandboxes;
use sbx_store::{AccountStore, SandboxStore};
use serde::Serialize;

/// Allocates (or reuses) the tenant's account, shares the images with it, and records it on
/// the sandbox. Returns the job with its account.
pub async fn allocate(steps: &Steps, mut job: Job) -> Result<Job, StepError> {
    let account = steps.store.allocate(&job.tenant).await?;
    let images = &steps.settings.images;
    sbx_aws::images::share(
        &steps.management_ec2,
        &[&images.acp, &images.ocp, &images.proxy],
        &account.account_id,
    )
    .await?;
    steps
        .store
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
pub async fn retire(steps: &Steps, job: Job) -> Result<RetireOutput, StepError> {
    let Some(account) = job.account_id.as_deref() else {
        return Ok(RetireOutput { expired: false });
    };
    let others = sandboxes::live(&steps.store, &job.tenant)
        .await?
        .into_iter()
        .filter(|sandbox| sandbox.id != job.sandbox_id)
        .count();
    if others > 0 {
        return Ok(RetireOutput { expired: false });
    }
    steps.store.expire(&job.tenant, account).await?;
    Ok(RetireOutput { expired: true })
}
