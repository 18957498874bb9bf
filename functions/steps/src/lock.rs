//! `acquire-lock` and `release-lock`: the account lock (SPEC: Account lock). The lease is taken
//! with a conditional write. While another job holds it, acquiring fails at once with
//! `Sbx.LockHeld`: the state machine's Retry waits, with jittered backoff, and a Lambda never
//! sleeps (and is never billed) while it waits.

use crate::config::LockSettings;
use crate::error::StepError;
use crate::job::Job;
use sbx_store::{LockStore, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockOutput {
    pub lock: String,
    pub held: bool,
}

/// The lock of the job's account.
fn lock_of(job: &Job) -> Result<String, StepError> {
    job.account().map(Job::lock_name)
}

pub async fn acquire(
    locks: &impl LockStore,
    job: Job,
    timing: LockSettings,
) -> Result<LockOutput, StepError> {
    let lock = lock_of(&job)?;
    locks.acquire(&lock, &job.execution, timing.lease).await?;
    Ok(LockOutput { lock, held: true })
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

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_store::Lease;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A lock held by "other" for the first `busy_for` acquisition attempts.
    struct Busy {
        busy_for: u32,
        attempts: Mutex<u32>,
        holder: Mutex<Option<String>>,
    }

    impl LockStore for Busy {
        async fn acquire(&self, lock: &str, owner: &str, lease: Duration) -> Result<Lease, StoreError> {
            let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            *attempts += 1;
            let until = chrono::Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
            if *attempts <= self.busy_for {
                return Err(StoreError::LockHeld {
                    lock: lock.into(),
                    owner: "other".into(),
                    until,
                });
            }
            *self.holder.lock().unwrap_or_else(|p| p.into_inner()) = Some(owner.into());
            Ok(Lease {
                lock: lock.into(),
                owner: owner.into(),
                expires_at: until,
            })
        }

        async fn release(&self, lock: &str, owner: &str) -> Result<(), StoreError> {
            let mut holder = self.holder.lock().unwrap_or_else(|p| p.into_inner());
            match holder.as_deref() {
                Some(current) if current != owner => Err(StoreError::NotLockOwner {
                    lock: lock.into(),
                    owner: owner.into(),
                    holder: current.into(),
                }),
                _ => {
                    *holder = None;
                    Ok(())
                }
            }
        }

        async fn holder(&self, _lock: &str) -> Result<Option<Lease>, StoreError> {
            Ok(None)
        }

        async fn remove_expired(&self, _lease: &Lease) -> Result<bool, StoreError> {
            Ok(false)
        }
    }

    fn busy(busy_for: u32) -> Busy {
        Busy {
            busy_for,
            attempts: Mutex::new(0),
            holder: Mutex::new(None),
        }
    }

    fn timing(lease_seconds: u64) -> LockSettings {
        LockSettings {
            lease: Duration::from_secs(lease_seconds),
            visibility: Duration::ZERO,
        }
    }

    fn job() -> Job {
        serde_json::from_value(serde_json::json!({
            "tenant": "acme", "sandbox_id": "s1", "operation": "create", "version": 1,
            "execution": "arn:exec:1", "token": "s1-create-1", "account_id": "100000000001"
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn a_held_lock_fails_at_once_for_the_state_machine_to_retry_then_is_taken() {
        let locks = busy(1);
        let started = std::time::Instant::now();
        let held = acquire(&locks, job(), timing(60)).await;
        assert!(matches!(held, Err(StepError::LockHeld(_))), "{held:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "acquiring does not wait in the Lambda"
        );
        assert_eq!(*locks.attempts.lock().unwrap_or_else(|p| p.into_inner()), 1);
        let out = acquire(&locks, job(), timing(60)).await;
        assert_eq!(
            out.ok(),
            Some(LockOutput {
                lock: "account:100000000001".into(),
                held: true
            })
        );
    }

    #[tokio::test]
    async fn releasing_another_owners_lease_leaves_it_alone() {
        let locks = busy(0);
        *locks.holder.lock().unwrap_or_else(|p| p.into_inner()) = Some("someone-else".into());
        let out = release(&locks, job()).await;
        assert_eq!(out.ok().map(|o| o.held), Some(false));
        assert_eq!(
            locks.holder.lock().unwrap_or_else(|p| p.into_inner()).as_deref(),
            Some("someone-else")
        );
        let mut without_account = job();
        without_account.account_id = None;
        assert!(matches!(
            acquire(&locks, without_account, timing(1)).await,
            Err(StepError::InvalidInput(_))
        ));
    }
}
