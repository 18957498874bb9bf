//! The sweeps' index reads ([`sbx_store::Sweeps`]): deadlines due, sandboxes in a state, notices.

use super::{FakeDeadline, FakeStore};
use crate::locked;
use chrono::Utc;
use sbx_lifecycle::Sandbox;
use sbx_store::StoreError;

/// The sweeps' index reads: only what is due (or in the state) is read, as from a sparse index.
impl sbx_store::Sweeps for FakeStore {
    async fn due(&self, at: chrono::DateTime<Utc>, limit: usize) -> Result<sbx_store::Swept, StoreError> {
        let mut items: Vec<Sandbox> = locked(&self.sandboxes)
            .iter()
            .filter(|s| s.state.is_live() && s.expires_at <= at)
            .cloned()
            .collect();
        items.sort_by_key(|s| s.expires_at);
        items.truncate(limit);
        let read = items.len() as u64;
        Ok(sbx_store::Swept { items, read })
    }

    async fn in_state(
        &self,
        state: sbx_lifecycle::State,
        limit: usize,
    ) -> Result<sbx_store::Swept, StoreError> {
        let mut items: Vec<Sandbox> = locked(&self.sandboxes)
            .iter()
            .filter(|s| s.state == state)
            .cloned()
            .collect();
        items.sort_by_key(|s| s.updated_at);
        items.truncate(limit);
        let read = items.len() as u64;
        Ok(sbx_store::Swept { items, read })
    }

    async fn deadlines_due(
        &self,
        at: chrono::DateTime<Utc>,
        limit: usize,
    ) -> Result<sbx_store::Deadlines, StoreError> {
        let deadlines = locked(&self.deadlines);
        let mut items: Vec<sbx_store::DueSandbox> = locked(&self.sandboxes)
            .iter()
            .filter_map(|s| {
                let (deadline_at, warned, looked_at, idle_warned_at) =
                    match deadlines.get(&(s.tenant.clone(), s.id.clone())) {
                        Some(set) if set.expires_at == s.expires_at => {
                            (set.at?, set.warned.clone(), set.looked_at, set.idle_warned_at)
                        }
                        _ => (
                            sbx_store::first_deadline(s.expires_at, s.created_at),
                            Vec::new(),
                            None,
                            None,
                        ),
                    };
                (deadline_at <= at).then(|| sbx_store::DueSandbox {
                    sandbox: s.clone(),
                    deadline_at,
                    warned,
                    looked_at,
                    idle_warned_at,
                })
            })
            .collect();
        items.sort_by_key(|a| a.deadline_at);
        items.truncate(limit);
        let read = items.len() as u64;
        Ok(sbx_store::Deadlines { items, read })
    }

    async fn settle_deadline(
        &self,
        due_sandbox: &sbx_store::DueSandbox,
        settled: &sbx_store::Settled<'_>,
    ) -> Result<bool, StoreError> {
        let sbx_store::Settled {
            warned,
            notices,
            next,
            looked_at,
            idle_warned_at,
        } = *settled;
        let key = (due_sandbox.sandbox.tenant.clone(), due_sandbox.sandbox.id.clone());
        let current = locked(&self.sandboxes)
            .iter()
            .find(|s| s.tenant == due_sandbox.sandbox.tenant && s.id == due_sandbox.sandbox.id)
            .cloned();
        let mut deadlines = locked(&self.deadlines);
        let deadline_now = match deadlines.get(&key) {
            Some(set) if current.as_ref().is_some_and(|c| c.expires_at == set.expires_at) => set.at,
            _ => current
                .as_ref()
                .map(|c| sbx_store::first_deadline(c.expires_at, c.created_at)),
        };
        // Compared on the deadline and expiry as read.
        if deadline_now != Some(due_sandbox.deadline_at)
            || current.as_ref().map(|c| c.expires_at) != Some(due_sandbox.sandbox.expires_at)
        {
            return Ok(false);
        }
        deadlines.insert(
            key,
            FakeDeadline {
                at: next,
                warned: warned.to_vec(),
                expires_at: due_sandbox.sandbox.expires_at,
                looked_at: Some(looked_at),
                idle_warned_at,
            },
        );
        let mut given = locked(&self.notices);
        for notice in notices {
            if !given
                .iter()
                .any(|n| n.sandbox_id == notice.sandbox_id && n.seq == notice.seq)
            {
                given.push(notice.clone());
            }
        }
        Ok(true)
    }
}
