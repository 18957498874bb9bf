//! The sandbox records ([`SandboxStore`]): creates answered once per Idempotency-Key, changes
//! of state by the lifecycle's rules, each with its event.

use super::{FakeDeadline, FakeStore, KeyUse};
use crate::locked;
use chrono::Utc;
use sbx_lifecycle::{Event, NewSandbox, Operation, Outcome, Sandbox};
use sbx_store::{Created, ListQuery, Page, SandboxStore, StoreError};

impl SandboxStore for FakeStore {
    async fn create(&self, new: NewSandbox, key: Option<&str>) -> Result<Created, StoreError> {
        if let Some(key) = key {
            let known = locked(&self.keys)
                .get(&(new.tenant.clone(), key.to_owned()))
                .cloned();
            if let Some(used) = known {
                if used.name != new.name || used.options != new.options {
                    return Err(StoreError::IdempotencyKeyReused);
                }
                return Ok(Created {
                    sandbox: self.record(&new.tenant, &used.id)?,
                    replayed: true,
                });
            }
            locked(&self.keys).insert(
                (new.tenant.clone(), key.to_owned()),
                KeyUse {
                    id: new.id.clone(),
                    name: new.name.clone(),
                    options: new.options.clone(),
                },
            );
        }
        if self.record(&new.tenant, &new.id).is_ok() {
            return Err(StoreError::AlreadyExists { id: new.id });
        }
        let change = Sandbox::create(new, Utc::now());
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(Created {
            sandbox: change.record,
            replayed: false,
        })
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Sandbox, StoreError> {
        self.record(tenant, id)
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let items = locked(&self.sandboxes)
            .iter()
            .filter(|s| s.tenant == tenant && query.state.is_none_or(|state| s.state == state))
            .cloned()
            .collect();
        Ok(Page {
            items,
            next_token: None,
        })
    }

    async fn begin(&self, tenant: &str, id: &str, operation: Operation) -> Result<Sandbox, StoreError> {
        let change = self.record(tenant, id)?.begin(operation, Utc::now())?;
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(change.record)
    }

    async fn begin_by(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        actor: &str,
    ) -> Result<Sandbox, StoreError> {
        let change = self
            .record(tenant, id)?
            .begin(operation, Utc::now())?
            .by(Some(actor));
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(change.record)
    }

    async fn set_schedule(
        &self,
        tenant: &str,
        id: &str,
        schedule: &sbx_lifecycle::Schedule,
        now: chrono::DateTime<Utc>,
    ) -> Result<Sandbox, StoreError> {
        let mut record = self.record(tenant, id)?;
        if matches!(
            record.state,
            sbx_lifecycle::State::Deleting | sbx_lifecycle::State::Deleted
        ) {
            return Err(StoreError::NotExtendable {
                id: id.to_owned(),
                state: record.state,
            });
        }
        record.schedule = (!schedule.is_empty()).then(|| schedule.clone());
        self.put(record.clone());
        let mut deadlines = locked(&self.deadlines);
        let warned = deadlines
            .get(&(tenant.to_owned(), id.to_owned()))
            .filter(|a| a.expires_at == record.expires_at)
            .map(|a| a.warned.clone())
            .unwrap_or_default();
        deadlines.insert(
            (tenant.to_owned(), id.to_owned()),
            FakeDeadline {
                at: Some(now),
                warned,
                expires_at: record.expires_at,
                looked_at: Some(now),
                idle_warned_at: None,
            },
        );
        Ok(record)
    }

    async fn begin_as(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        execution: &str,
    ) -> Result<Sandbox, StoreError> {
        let current = self.record(tenant, id)?;
        if current.state == operation.running() && current.execution.as_deref() == Some(execution) {
            return Ok(current);
        }
        let mut change = current.begin(operation, Utc::now())?;
        change.record.execution = Some(execution.to_owned());
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(change.record)
    }

    async fn finish_with(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        version: u64,
        outcome: Outcome,
        endpoints: Option<sbx_lifecycle::Endpoints>,
    ) -> Result<Sandbox, StoreError> {
        let current = self.record(tenant, id)?;
        if current.version != version {
            return Err(StoreError::Conflict(sbx_lifecycle::Refused {
                operation,
                current: current.state,
            }));
        }
        let change = current.finish_at(operation, outcome, endpoints, Utc::now())?;
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(change.record)
    }

    async fn name_execution(
        &self,
        tenant: &str,
        id: &str,
        _operation: sbx_lifecycle::Operation,
        _version: u64,
        execution: &str,
    ) -> Result<Sandbox, StoreError> {
        let mut record = self.record(tenant, id)?;
        record.execution = Some(execution.into());
        self.put(record.clone());
        Ok(record)
    }

    async fn assign_account(&self, tenant: &str, id: &str, account_id: &str) -> Result<Sandbox, StoreError> {
        let mut record = self.record(tenant, id)?;
        record.account_id = Some(account_id.into());
        self.put(record.clone());
        Ok(record)
    }

    async fn extend(
        &self,
        tenant: &str,
        id: &str,
        expires_at: chrono::DateTime<Utc>,
    ) -> Result<Sandbox, StoreError> {
        let mut record = self.record(tenant, id)?;
        record.expires_at = expires_at;
        self.put(record.clone());
        Ok(record)
    }

    async fn events(&self, tenant: &str, id: &str, after: u64) -> Result<Vec<Event>, StoreError> {
        let events = locked(&self.events);
        Ok(events
            .iter()
            .filter(|e| e.tenant == tenant && e.sandbox_id == id && e.seq > after)
            .cloned()
            .collect())
    }

    async fn live_count(&self, tenant: &str) -> Result<u64, StoreError> {
        let sandboxes = locked(&self.sandboxes);
        Ok(sandboxes
            .iter()
            .filter(|s| s.tenant == tenant && s.state.is_live())
            .count() as u64)
    }
}
