//! `reconcile-stuck`: a record in a transitional state is checked against the execution its
//! operation and version name, or the one the record names (an operator's), with
//! DescribeExecution:
//!
//! - **ended** without finishing the record: reconciled now, whatever the record's age;
//! - **not found**, past the grace period (it covers the API's moment between changing the
//!   record and starting the execution): the execution its version names is started, as the
//!   API would have (it changed the record, then its start was lost or it died); one the
//!   record names (an operator's) cannot be started again, and the record is reconciled;
//! - **not found** and changed before the engine last restarted: lost with it, reconciled;
//! - **running** past the deadline: reported, and left alone.
//!
//! Reconciling makes the record `failed` with [`RECONCILED`] and the execution's status as the
//! cause (a compare-and-set on the version, so it cannot overwrite a finish that won), and
//! releases the account lock if that execution holds it.

use super::{SweepInput, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use crate::job::Job;
use chrono::{DateTime, Utc};
use sbx_lifecycle::{Outcome, Sandbox, State, rules};
use sbx_store::{LockStore, SandboxStore, StoreError, Sweeps};
use sbx_workflows::{Status, Workflows};
use serde::Serialize;

/// The error a reconciled record's failure carries.
pub const RECONCILED: &str = "Sbx.Reconciled";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StuckReport {
    pub read: u64,
    pub checked: usize,
    /// Records made `failed`, with why.
    pub reconciled: Vec<String>,
    /// Records whose execution never started, started now.
    pub launched: Vec<String>,
    /// Running past the deadline.
    pub late: Vec<String>,
}

/// What to do with a record in a transitional state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Wait,
    Late,
    /// Start the execution the record's version names.
    Launch,
    Reconcile {
        cause: String,
    },
}

/// The verdict on `sandbox`, whose execution `name` stands at `status`, at `now`.
pub fn verdict(
    sandbox: &Sandbox,
    name: &str,
    status: Status,
    now: DateTime<Utc>,
    settings: &SweepSettings,
) -> Verdict {
    let age = now - sandbox.updated_at;
    match status {
        Status::Ended(how) => Verdict::Reconcile {
            cause: format!("execution {name} ended {how} without finishing the record"),
        },
        Status::NotFound
            if settings
                .executions_lost_before
                .is_some_and(|restart| sandbox.updated_at < restart) =>
        {
            Verdict::Reconcile {
                cause: format!("execution {name} was lost with the engine that ran it (it restarted since)"),
            }
        }
        Status::NotFound if age >= settings.grace && sandbox.execution.is_none() => Verdict::Launch,
        Status::NotFound if age >= settings.grace => Verdict::Reconcile {
            cause: format!(
                "no execution {name} started within {}s",
                settings.grace.num_seconds()
            ),
        },
        Status::NotFound => Verdict::Wait,
        Status::Running if age > settings.deadline => Verdict::Late,
        Status::Running => Verdict::Wait,
    }
}

pub async fn reconcile(
    store: &(impl Sweeps + SandboxStore + LockStore),
    workflows: &impl Workflows,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<StuckReport, StepError> {
    let now = input.now(settings)?;
    let mut report = StuckReport::default();
    for state in State::ALL.into_iter().filter(|s| s.is_transitional()) {
        let Some(operation) = state.running_operation() else {
            continue;
        };
        let swept = store.in_state(state, settings.batch).await?;
        report.read += swept.read;
        for sandbox in swept.items {
            report.checked += 1;
            let who = format!("{}/{}", sandbox.tenant, sandbox.id);
            let name = sandbox
                .execution
                .clone()
                .unwrap_or_else(|| rules::execution_name(&sandbox.id, operation, sandbox.version));
            let status = workflows.status(operation, &name).await?;
            match verdict(&sandbox, &name, status, now, settings) {
                Verdict::Wait => {}
                Verdict::Late => {
                    tracing::warn!(sandbox = %who, execution = %name, since = %sandbox.updated_at, "operation running past its deadline");
                    note(
                        &mut report.late,
                        format!("{who}: {name} running since {}", sandbox.updated_at),
                    );
                }
                Verdict::Launch => {
                    // A definite refusal ends the operation as failed (in `launch`); a lost
                    // answer leaves it to the next sweep, which finds the execution or not.
                    match sbx_workflows::launch(store, workflows, operation, &sandbox).await {
                        Ok(()) => {
                            tracing::warn!(sandbox = %who, execution = %name, "an execution that never started was started");
                            note(&mut report.launched, format!("{who}: {name}"));
                        }
                        Err(err) if err.ambiguous => {
                            tracing::warn!(sandbox = %who, execution = %name, %err, "the execution may have started");
                        }
                        Err(err) => note(
                            &mut report.reconciled,
                            format!("{who}: {name} could not be started: {err}"),
                        ),
                    }
                }
                Verdict::Reconcile { cause } => {
                    let outcome = Outcome::Failed {
                        error: RECONCILED.to_owned(),
                        cause: cause.clone(),
                    };
                    match store
                        .finish(&sandbox.tenant, &sandbox.id, operation, sandbox.version, outcome)
                        .await
                    {
                        Ok(_) => {}
                        // Finished or changed since it was read: not stuck after all.
                        Err(StoreError::Conflict(_) | StoreError::NotFound { .. }) => continue,
                        Err(err) => return Err(err.into()),
                    }
                    if let Some(account) = &sandbox.account_id {
                        release_held(store, account, &workflows.execution_id(operation, &name)).await?;
                    }
                    tracing::warn!(sandbox = %who, %cause, "stuck record reconciled");
                    note(&mut report.reconciled, format!("{who}: {cause}"));
                }
            }
        }
    }
    Ok(report)
}

/// Releases the account lock if `execution` holds it.
async fn release_held(store: &impl LockStore, account: &str, execution: &str) -> Result<(), StepError> {
    let lock = Job::lock_name(account);
    match store.holder(&lock).await? {
        Some(lease) if lease.owner == execution => match store.release(&lock, execution).await {
            Ok(()) | Err(StoreError::NotLockOwner { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_lifecycle::{NewSandbox, SandboxOptions};

    fn settings() -> SweepSettings {
        crate::sweep::test_settings(false)
    }

    fn record(at: DateTime<Utc>) -> Sandbox {
        let new = NewSandbox {
            tenant: "acme".into(),
            id: "s1".into(),
            name: "s1".into(),
            options: SandboxOptions::default(),
            expires_at: at + chrono::Duration::hours(8),
        };
        Sandbox::create(new, at).record
    }

    #[test]
    fn ended_executions_are_reconciled_at_once_and_missing_ones_started_after_the_grace() {
        let at = Utc::now();
        let sandbox = record(at);
        let s = settings();
        let ended = verdict(&sandbox, "s1-create-v1", Status::Ended("ABORTED"), at, &s);
        assert!(
            matches!(&ended, Verdict::Reconcile { cause } if cause.contains("ABORTED")),
            "{ended:?}"
        );
        assert_eq!(
            verdict(
                &sandbox,
                "n",
                Status::NotFound,
                at + chrono::Duration::minutes(4),
                &s
            ),
            Verdict::Wait
        );
        let past_grace = at + chrono::Duration::minutes(5);
        assert_eq!(
            verdict(&sandbox, "n", Status::NotFound, past_grace, &s),
            Verdict::Launch,
            "the execution its version names is started"
        );
        let operated = Sandbox {
            execution: Some("ops-create-1".into()),
            ..sandbox
        };
        assert!(matches!(
            verdict(&operated, "ops-create-1", Status::NotFound, past_grace, &s),
            Verdict::Reconcile { cause } if cause.contains("ops-create-1")
        ));
    }

    #[test]
    fn an_execution_lost_with_a_restarted_engine_is_reconciled_without_the_grace() {
        let at = Utc::now();
        let sandbox = record(at);
        let restarted = SweepSettings {
            executions_lost_before: Some(at + chrono::Duration::seconds(1)),
            ..settings()
        };
        let soon = at + chrono::Duration::seconds(2);
        assert!(matches!(
            verdict(&sandbox, "n", Status::NotFound, soon, &restarted),
            Verdict::Reconcile { cause } if cause.contains("lost with the engine")
        ));
        let after_restart = SweepSettings {
            executions_lost_before: Some(at - chrono::Duration::seconds(1)),
            ..settings()
        };
        assert_eq!(
            verdict(&sandbox, "n", Status::NotFound, soon, &after_restart),
            Verdict::Wait,
            "a record changed since the restart still gets its grace"
        );
        assert_eq!(
            verdict(&sandbox, "n", Status::Running, soon, &restarted),
            Verdict::Wait
        );
    }

    #[test]
    fn running_executions_are_left_alone_and_reported_past_the_deadline() {
        let at = Utc::now();
        let sandbox = record(at);
        let s = settings();
        assert_eq!(
            verdict(
                &sandbox,
                "n",
                Status::Running,
                at + chrono::Duration::hours(1),
                &s
            ),
            Verdict::Wait
        );
        assert_eq!(
            verdict(
                &sandbox,
                "n",
                Status::Running,
                at + chrono::Duration::hours(3),
                &s
            ),
            Verdict::Late
        );
    }

    #[test]
    fn every_transitional_state_has_its_operation() {
        for state in State::ALL.into_iter().filter(|s| s.is_transitional()) {
            assert_eq!(state.running_operation().map(|op| op.running()), Some(state));
        }
    }
}
