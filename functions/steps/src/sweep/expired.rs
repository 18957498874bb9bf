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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::test_settings;
    use sbx_fakes::{FakeStore, FakeWorkflows};
    use sbx_lifecycle::State;

    fn input(hours: i64) -> SweepInput {
        SweepInput {
            execution: "arn:gc:1".into(),
            as_of: Some(chrono::Utc::now() + chrono::Duration::hours(hours)),
        }
    }

    #[tokio::test]
    async fn what_is_due_and_idle_is_deleted_once_and_the_rest_is_left() {
        let store = FakeStore::default();
        let workflows = FakeWorkflows::default();
        store.add("sb-due", State::Started, Default::default());
        store.add("sb-busy", State::Started, Default::default());
        store.put_state("sb-busy", State::Stopping);
        store.add("sb-later", State::Started, Default::default());
        store.put_expiry("sb-later", chrono::Utc::now() + chrono::Duration::days(3));
        // The fake's sandboxes expire in 8 hours: as of 9 hours from now two are due.
        let report = sweep(&store, &workflows, &test_settings(true), input(9))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((report.due, report.begun), (2, 1), "{report:?}");
        assert_eq!(report.deleting, ["acme/sb-due"]);
        assert_eq!(report.left, ["acme/sb-busy (stopping)"]);
        assert_eq!(
            store.get("acme", "sb-due").await.map(|s| s.state).ok(),
            Some(State::Deleting)
        );
        assert_eq!(
            store.get("acme", "sb-later").await.map(|s| s.state).ok(),
            Some(State::Started)
        );
        let names = workflows.names();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with("sb-due-delete-v"), "{names:?}");

        // A second sweep (or one running at the same time, after the first's write) begins
        // nothing again and starts no second execution.
        let again = sweep(&store, &workflows, &test_settings(true), input(9))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.begun, 0, "{again:?}");
        assert_eq!(workflows.names().len(), 1);
    }

    #[tokio::test]
    async fn nothing_is_due_before_its_time_and_a_fixed_clock_refuses_as_of() {
        let store = FakeStore::default();
        let workflows = FakeWorkflows::default();
        store.add("sb-1", State::Started, Default::default());
        let report = sweep(&store, &workflows, &test_settings(true), input(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((report.read, report.due, report.begun), (0, 0, 0));
        let refused = sweep(&store, &workflows, &test_settings(false), input(9)).await;
        assert!(matches!(refused, Err(StepError::InvalidInput(_))), "{refused:?}");
        assert!(workflows.names().is_empty());
    }
}
