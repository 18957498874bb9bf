//! `acquire-lock` and `release-lock`: the account lock (SPEC: Account lock). The lease is taken
//! with a conditional write; while another job holds it, acquiring waits with jittered backoff
//! for a while and then fails with `Sbx.LockHeld`, which the state machine retries.

use crate::error::StepError;
use crate::job::Job;
use sbx_store::{LockStore, StoreError};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockOutput {
    pub lock: String,
    pub held: bool,
}

/// The lock of the job's account.
fn lock_of(job: &Job) -> Result<String, StepError> {
    job.account_id
        .as_deref()
        .map(Job::lock_name)
        .ok_or_else(|| StepError::InvalidInput(format!("sandbox {} has no account yet", job.sandbox_id)))
}

pub async fn acquire(
    locks: &impl LockStore,
    job: Job,
    lease: Duration,
    wait: Duration,
) -> Result<LockOutput, StepError> {
    let lock = lock_of(&job)?;
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(20);
    loop {
        match locks.acquire(&lock, &job.execution, lease).await {
            Ok(_) => return Ok(LockOutput { lock, held: true }),
            Err(StoreError::LockHeld { .. }) if Instant::now() + delay < deadline => {
                let jitter = fastrand::u64(0..=delay.as_millis() as u64);
                tokio::time::sleep(delay / 2 + Duration::from_millis(jitter / 2)).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Releases the job's lease. A job without an account holds no lock; a lease another job has
/// taken over (ours expired) is left to its owner.
pub async fn release(locks: &impl LockStore, job: Job) -> Result<LockOutput, StepError> {
    let Some(account) = job.account_id.as_deref() else {
        return Ok(LockOutput {
            lock: String::new(),
            held: false,
        });
    };
    let lock = Job::lock_name(account);
    match locks.release(&lock, &job.execution).await {
        Ok(()) => Ok(LockOutput { lock, held: false }),
        Err(StoreError::NotLockOwner { holder, .. }) => {
            tracing::warn!(%lock, %holder, owner = %job.execution, "the lease was taken over; nothing to release");
            Ok(LockOutput { lock, held: false })
        }
        Err(err) => Err(err.into()),
    }
}

/// Fails with `Sbx.LockLost` unless the job holds the account's lease now (a fence before
/// changing shared infrastructure).
pub async fn ensure_held(locks: &impl LockStore, job: &Job, account: &str) -> Result<(), StepError> {
    let lock = Job::lock_name(account);
    match locks.holder(&lock).await? {
        Some(lease) if lease.owner == job.execution && lease.expires_at > chrono::Utc::now() => Ok(()),
        Some(lease) => Err(StepError::LockLost(format!(
            "{lock} is held by {}, not by this job",
            lease.owner
        ))),
        None => Err(StepError::LockLost(format!("{lock} is not held by this job"))),
    }
}
