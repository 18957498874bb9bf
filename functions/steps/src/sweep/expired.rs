//! `delete-expired`: sandboxes whose `expires_at` has passed, read from the sparse by-expiry
//! index, are deleted as the API deletes them: the record's compare-and-set, then the delete
//! workflow under the name the new version gives. A sandbox in the middle of another operation
//! is left for the next sweep; of two sweeps at once, one wins each compare-and-set.

use super::{SweepInput, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use sbx_lifecycle::Operation;
use sbx_store::{SandboxStore, StoreError, Sweeps};
use sbx_workflows::Workflows;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExpiredReport {
    /// Items the index query read.
    pub read: u64,
    pub due: usize,
    /// How many deletes this sweep began.
    pub begun: usize,
    /// Sandboxes whose delete this sweep began (the first 50).
    pub deleting: Vec<String>,
    /// Due, but busy with another operation (or taken by another sweep).
    pub left: Vec<String>,
    /// Begun, but their workflow could not be started (the record is failed, to be deleted by
    /// the next sweep).
    pub failed: Vec<String>,
}

pub async fn sweep(
    store: &(impl Sweeps + SandboxStore),
    workflows: &impl Workflows,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<ExpiredReport, StepError> {
    let now = input.now(settings)?;
    let due = store.due(now, settings.batch).await?;
    let mut report = ExpiredReport {
        read: due.read,
        due: due.items.len(),
        ..ExpiredReport::default()
    };
    for sandbox in due.items {
        let who = format!("{}/{}", sandbox.tenant, sandbox.id);
        if !Operation::Delete.may_begin(Some(sandbox.state), sandbox.failure.as_ref()) {
            note(&mut report.left, format!("{who} ({})", sandbox.state));
            continue;
        }
        let begun = match store.begin(&sandbox.tenant, &sandbox.id, Operation::Delete).await {
            Ok(begun) => begun,
            // Changed since the index was read: another operation or sweep got there first.
            Err(StoreError::Conflict(refused)) => {
                note(&mut report.left, format!("{who} ({})", refused.current));
                continue;
            }
            Err(StoreError::NotFound { .. }) => continue,
            Err(err) => return Err(err.into()),
        };
        match sbx_workflows::launch(store, workflows, Operation::Delete, &begun).await {
            Ok(()) => {
                tracing::info!(sandbox = %who, expired = %sandbox.expires_at, "expired sandbox is being deleted");
                report.begun += 1;
                note(&mut report.deleting, who);
            }
            Err(err) => {
                tracing::warn!(sandbox = %who, %err, "the delete of an expired sandbox could not be started");
                note(&mut report.failed, format!("{who}: {err}"));
            }
        }
    }
    Ok(report)
}
