//! `acquire-lock` and `release-lock`: the account lock (SPEC: Account lock). The lease is taken
//! with a conditional write; while another job holds it, acquiring waits with jittered backoff
//! for a while and then fails with `Sbx.LockHeld`, which the state machine retries.

use crate::config::LockSettings;
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
    job.account().map(Job::lock_name)
}

pub async fn acquire(
    locks: &impl LockStore,
    job: Job,
    timing: LockSettings,
) -> Result<LockOutput, StepError> {
    let LockSettings { lease, wait } = timing;
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

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_store::Lease;
    use std::sync::Mutex;

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

    fn timing(lease_seconds: u64, wait_millis: u64) -> LockSettings {
        LockSettings {
            lease: Duration::from_secs(lease_seconds),
            wait: Duration::from_millis(wait_millis),
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
    async fn acquiring_waits_while_the_lock_is_held_then_takes_it() {
        let locks = busy(3);
        let out = acquire(&locks, job(), timing(60, 5_000)).await;
        assert_eq!(
            out.ok(),
            Some(LockOutput {
                lock: "account:100000000001".into(),
                held: true
            })
        );
        assert_eq!(*locks.attempts.lock().unwrap_or_else(|p| p.into_inner()), 4);
    }

    #[tokio::test]
    async fn acquiring_gives_up_with_lock_held_when_the_wait_runs_out() {
        let locks = busy(u32::MAX);
        let out = acquire(&locks, job(), timing(60, 100)).await;
        assert!(matches!(out, Err(StepError::LockHeld(_))), "{out:?}");
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
            acquire(&locks, without_account, timing(1, 0)).await,
            Err(StepError::InvalidInput(_))
        ));
    }
}
