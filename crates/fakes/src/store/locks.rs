//! The per-account lock ([`LockStore`]): a lease is taken when free or expired, and given back
//! only by its owner.

use super::FakeStore;
use crate::locked;
use chrono::Utc;
use sbx_store::{Lease, LockStore, StoreError};

impl LockStore for FakeStore {
    async fn acquire(
        &self,
        lock: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<Lease, StoreError> {
        let mut leases = locked(&self.leases);
        let now = Utc::now();
        if let Some(held) = leases
            .get(lock)
            .filter(|l| l.owner != owner && l.expires_at > now)
        {
            return Err(StoreError::LockHeld {
                lock: lock.into(),
                owner: held.owner.clone(),
                until: held.expires_at,
            });
        }
        let lease = Lease {
            lock: lock.into(),
            owner: owner.into(),
            expires_at: now + chrono::Duration::from_std(lease).unwrap_or_default(),
        };
        leases.insert(lock.into(), lease.clone());
        Ok(lease)
    }

    async fn release(&self, lock: &str, owner: &str) -> Result<(), StoreError> {
        let mut leases = locked(&self.leases);
        match leases.get(lock) {
            Some(held) if held.owner != owner => Err(StoreError::NotLockOwner {
                lock: lock.into(),
                owner: owner.into(),
                holder: held.owner.clone(),
            }),
            _ => {
                leases.remove(lock);
                Ok(())
            }
        }
    }

    async fn holder(&self, lock: &str) -> Result<Option<Lease>, StoreError> {
        Ok(locked(&self.leases).get(lock).cloned())
    }

    async fn remove_expired(&self, lease: &Lease) -> Result<bool, StoreError> {
        let mut leases = locked(&self.leases);
        if leases.get(&lease.lock) == Some(lease) && lease.expires_at < Utc::now() {
            leases.remove(&lease.lock);
            return Ok(true);
        }
        Ok(false)
    }
}
