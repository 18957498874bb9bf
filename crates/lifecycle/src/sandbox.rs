//! The sandbox record and the changes the lifecycle makes to it.

use crate::{Operation, Refused, State, rfc3339_millis};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The options a sandbox is created with (SPEC.md, Concepts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxOptions {
    /// Needs layer-4 ingress (an NLB listener).
    #[serde(default)]
    pub amq: bool,
    /// Needs a desktop-streaming fleet.
    #[serde(default)]
    pub smart_client: bool,
    /// The packages to install on the OCP VM.
    #[serde(default)]
    pub constellations: Vec<String>,
    #[serde(default)]
    pub instance_size: InstanceSize,
}

/// The size of the two VMs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceSize {
    Small,
    #[default]
    Medium,
    Large,
}

/// What a caller asks for when creating a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSandbox {
    pub tenant: String,
    pub id: String,
    pub name: String,
    pub options: SandboxOptions,
    #[serde(with = "rfc3339_millis")]
    pub expires_at: DateTime<Utc>,
}

/// Why the last operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub operation: Operation,
    /// The error name, e.g. `Sbx.InvalidInput` or `States.Timeout`.
    pub error: String,
    pub cause: String,
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
}

/// Where a started sandbox is reached (SPEC: Ingress routes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The ACP web application, on the ALB's rule for the sandbox's host name.
    pub web: String,
    /// The ACP REST API, on the same host rule.
    pub rest: String,
    /// AMQ on the NLB, when the sandbox has `amq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amq: Option<AmqEndpoint>,
    /// The AppStream stack users stream Smart Client from, when the sandbox has
    /// `smart_client` (a streaming URL is made per user and session by AppStream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_stack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmqEndpoint {
    pub host: String,
    pub port: i32,
}

/// The sandbox record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub tenant: String,
    pub id: String,
    pub name: String,
    pub options: SandboxOptions,
    pub state: State,
    /// Increases by one with every change; the compare-and-set token.
    pub version: u64,
    /// The AWS account the sandbox lives in, once allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "rfc3339_millis")]
    pub expires_at: DateTime<Utc>,
    /// Set while the state is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The execution running the current operation, when it is not the one the version
    /// names (`<id>-<operation>-v<version>`): an operator's, started under a name of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// Where it is reached: set when a create or start succeeds, gone when any other
    /// operation begins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// When it stops and starts by itself, and its idle timeout. Not a change of state: set
    /// without changing the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<crate::Schedule>,
    /// What it has cost so far: brought up to date by the spend sweep, not by a change of
    /// state (the version stays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::Cost>,
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed { error: String, cause: String },
}

/// One entry of a sandbox's audit trail: one change of state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub tenant: String,
    pub sandbox_id: String,
    /// The record's version after the change; events of one sandbox are numbered 1, 2, 3...
    pub seq: u64,
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    pub operation: Operation,
    /// `None` for the event that created the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<State>,
    pub to: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Who made the change when it was not a request's caller or an operator: `schedule` (an
    /// autostop or autostart) or `idle` (the idle stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// A computed change: the next record and its audit event. It applies only if the stored
/// record is still the one it was computed from ([`Change::expected`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub record: Sandbox,
    pub event: Event,
}

impl Change {
    /// The change made by `actor` (named in its audit event).
    pub fn by(mut self, actor: Option<&str>) -> Self {
        self.event.actor = actor.map(str::to_owned);
        self
    }

    /// The state and version the stored record must still have; `None` for a new record.
    pub fn expected(&self) -> Option<(State, u64)> {
        self.event.from.map(|state| (state, self.record.version - 1))
    }
}

impl Sandbox {
    /// The record of a sandbox whose create operation begins now.
    pub fn create(new: NewSandbox, now: DateTime<Utc>) -> Change {
        let now = rfc3339_millis::truncate(now);
        let record = Sandbox {
            tenant: new.tenant,
            id: new.id,
            name: new.name,
            options: new.options,
            state: Operation::Create.running(),
            version: 1,
            account_id: None,
            created_at: now,
            updated_at: now,
            expires_at: rfc3339_millis::truncate(new.expires_at),
            failure: None,
            execution: None,
            endpoints: None,
            schedule: None,
            cost: Some(crate::Cost::new(0, now, now, 0)),
        };
        let event = record.event(Operation::Create, None, now);
        Change { record, event }
    }

    /// Begins `operation`, if the transition table allows it from the current state.
    pub fn begin(&self, operation: Operation, now: DateTime<Utc>) -> Result<Change, Refused> {
        if !operation.may_begin(Some(self.state), self.failure.as_ref()) {
            return Err(self.refuse(operation));
        }
        let now = rfc3339_millis::truncate(now);
        let record = Sandbox {
            state: operation.running(),
            version: self.version + 1,
            updated_at: now,
            failure: None,
            execution: None,
            endpoints: None,
            ..self.clone()
        };
        let event = record.event(operation, Some(self.state), now);
        Ok(Change { record, event })
    }

    /// Ends `operation`, which must be the one running.
    pub fn finish(
        &self,
        operation: Operation,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Change, Refused> {
        self.finish_at(operation, outcome, None, now)
    }

    /// Ends `operation`; a create or start that succeeded records where the sandbox is reached.
    pub fn finish_at(
        &self,
        operation: Operation,
        outcome: Outcome,
        endpoints: Option<Endpoints>,
        now: DateTime<Utc>,
    ) -> Result<Change, Refused> {
        if self.state != operation.running() {
            return Err(self.refuse(operation));
        }
        let now = rfc3339_millis::truncate(now);
        let (state, failure) = match outcome {
            Outcome::Succeeded => (operation.succeeded(), None),
            Outcome::Failed { error, cause } => (
                State::Failed,
                Some(Failure {
                    operation,
                    error,
                    cause,
                    at: now,
                }),
            ),
        };
        let endpoints = match state {
            State::Started => endpoints,
            _ => None,
        };
        let record = Sandbox {
            state,
            version: self.version + 1,
            updated_at: now,
            failure,
            execution: None,
            endpoints,
            ..self.clone()
        };
        let event = record.event(operation, Some(self.state), now);
        Ok(Change { record, event })
    }

    fn refuse(&self, operation: Operation) -> Refused {
        Refused {
            operation,
            current: self.state,
        }
    }

    /// The audit event that records how this record came to be.
    fn event(&self, operation: Operation, from: Option<State>, at: DateTime<Utc>) -> Event {
        Event {
            tenant: self.tenant.clone(),
            sandbox_id: self.id.clone(),
            seq: self.version,
            at,
            operation,
            from,
            to: self.state,
            error: self.failure.as_ref().map(|f| f.error.clone()),
            cause: self.failure.as_ref().map(|f| f.cause.clone()),
            actor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn records_carry_timestamps_at_stored_precision() {
        let precise = now() + chrono::Duration::nanoseconds(1_234_567);
        let mut new = new_sandbox();
        new.expires_at += chrono::Duration::nanoseconds(7);
        let change = Sandbox::create(new, precise);
        let millis = now() + chrono::Duration::milliseconds(1);
        assert_eq!((change.record.created_at, change.event.at), (millis, millis));
        assert_eq!(change.record.expires_at, now() + chrono::Duration::hours(8));
        let begun = change
            .record
            .finish(Operation::Create, Outcome::Succeeded, precise);
        assert_eq!(begun.map(|c| c.record.updated_at), Ok(millis));
    }

    fn new_sandbox() -> NewSandbox {
        NewSandbox {
            tenant: "acme".into(),
            id: "sbx-1".into(),
            name: "integration".into(),
            options: SandboxOptions::default(),
            expires_at: now() + chrono::Duration::hours(8),
        }
    }

    /// A record in `state`; `failed_op` is the operation that failed when `state` is `failed`.
    fn record(state: State, failed_op: Option<Operation>) -> Sandbox {
        let mut record = Sandbox::create(new_sandbox(), now()).record;
        record.state = state;
        record.version = 7;
        record.failure = failed_op.map(|operation| Failure {
            operation,
            error: "Sbx.Test".into(),
            cause: "test".into(),
            at: now(),
        });
        record
    }

    /// SPEC.md's table, written out independently of `RULES`: the in-progress state an operation
    /// begins with, or `None` when it is refused (409).
    fn expected_begin(state: State, failed_op: Option<Operation>, op: Operation) -> Option<State> {
        use Operation::*;
        use State::*;
        match (op, state) {
            (Stop, Started) => Some(Stopping),
            (Start, Stopped) => Some(Starting),
            (Start, Failed) if matches!(failed_op, Some(Start) | Some(Stop)) => Some(Starting),
            (Delete, Started | Stopped | Failed) => Some(Deleting),
            _ => None,
        }
    }

    #[test]
    fn every_state_and_operation_pair_follows_the_spec() {
        let mut cases = 0;
        for state in State::ALL {
            let failures: Vec<Option<Operation>> = if state == State::Failed {
                Operation::ALL.into_iter().map(Some).collect()
            } else {
                vec![None]
            };
            for failed_op in failures {
                let sandbox = record(state, failed_op);
                for op in Operation::ALL {
                    cases += 1;
                    let got = sandbox.begin(op, now());
                    match expected_begin(state, failed_op, op) {
                        Some(running) => {
                            let change = got.unwrap_or_else(|e| panic!("{op} from {state}: {e}"));
                            assert_eq!(change.record.state, running, "{op} from {state}");
                            assert_eq!(change.record.version, 8);
                            assert_eq!(change.record.failure, None);
                            assert_eq!(change.expected(), Some((state, 7)));
                            assert_eq!(change.event.seq, 8);
                            assert_eq!((change.event.from, change.event.to), (Some(state), running));
                        }
                        None => assert_eq!(
                            got,
                            Err(Refused {
                                operation: op,
                                current: state
                            }),
                            "{op} from {state} after {failed_op:?}"
                        ),
                    }
                }
            }
        }
        assert_eq!(cases, (7 + 4) * 4);
    }

    #[test]
    fn only_create_begins_from_nothing() {
        for op in Operation::ALL {
            assert_eq!(op.may_begin(None, None), op == Operation::Create, "{op}");
        }
        let change = Sandbox::create(new_sandbox(), now());
        assert_eq!(change.record.state, State::Initializing);
        assert_eq!(change.record.version, 1);
        assert_eq!(change.expected(), None);
        assert_eq!(
            (change.event.from, change.event.to, change.event.seq),
            (None, State::Initializing, 1)
        );
    }

    #[test]
    fn finishing_leads_to_the_success_state_or_failed_with_the_reason() {
        let expected = [
            (Operation::Create, State::Initializing, State::Started),
            (Operation::Start, State::Starting, State::Started),
            (Operation::Stop, State::Stopping, State::Stopped),
            (Operation::Delete, State::Deleting, State::Deleted),
        ];
        for (op, running, succeeded) in expected {
            let sandbox = record(running, None);
            let ok = sandbox
                .finish(op, Outcome::Succeeded, now())
                .map(|c| c.record.state);
            assert_eq!(ok, Ok(succeeded), "{op}");

            let failed = sandbox.finish(
                op,
                Outcome::Failed {
                    error: "States.Timeout".into(),
                    cause: "instances did not start".into(),
                },
                now(),
            );
            let change = failed.unwrap_or_else(|e| panic!("{op}: {e}"));
            assert_eq!(change.record.state, State::Failed);
            assert_eq!(
                change.record.failure,
                Some(Failure {
                    operation: op,
                    error: "States.Timeout".into(),
                    cause: "instances did not start".into(),
                    at: now(),
                })
            );
            assert_eq!(change.event.error.as_deref(), Some("States.Timeout"));
            assert_eq!(change.event.cause.as_deref(), Some("instances did not start"));

            // Finishing an operation that is not the one running is refused.
            for state in State::ALL.into_iter().filter(|s| *s != running) {
                assert_eq!(
                    record(state, None).finish(op, Outcome::Succeeded, now()),
                    Err(Refused {
                        operation: op,
                        current: state
                    })
                );
            }
        }
    }

    #[test]
    fn a_failed_sandbox_can_always_be_deleted() {
        for op in Operation::ALL {
            assert!(
                record(State::Failed, Some(op))
                    .begin(Operation::Delete, now())
                    .is_ok()
            );
        }
    }

    #[test]
    fn deleted_is_final() {
        for op in Operation::ALL {
            assert!(record(State::Deleted, None).begin(op, now()).is_err());
        }
    }

    /// Every record the lifecycle can produce, whatever succeeds or fails on the way, can still
    /// end `deleted`: an exhaustive walk over the transition table from a new sandbox, where each
    /// running operation may succeed or fail (its failure branch records `failed`), and from
    /// every record reached, the operations a person may begin lead on to `deleted`.
    #[test]
    fn every_record_the_lifecycle_makes_has_a_way_to_deleted() {
        use std::collections::{BTreeSet, VecDeque};
        // A record as the table sees it: its state and, when failed, which operation failed.
        type Node = (State, Option<Operation>);
        let node = |r: &Sandbox| (r.state, r.failure.as_ref().map(|f| f.operation));
        let next = |r: &Sandbox| -> Vec<Sandbox> {
            match r.state.running_operation() {
                Some(op) => [
                    Outcome::Succeeded,
                    Outcome::Failed {
                        error: "Sbx.Test".into(),
                        cause: "test".into(),
                    },
                ]
                .into_iter()
                .filter_map(|outcome| r.finish(op, outcome, now()).ok())
                .map(|c| c.record)
                .collect(),
                None => Operation::ALL
                    .into_iter()
                    .filter_map(|op| r.begin(op, now()).ok())
                    .map(|c| c.record)
                    .collect(),
            }
        };
        // Every record reachable from a new sandbox.
        let start = Sandbox::create(new_sandbox(), now()).record;
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut records = Vec::new();
        let mut queue = VecDeque::from([start]);
        while let Some(record) = queue.pop_front() {
            if !seen.insert(format!("{:?}", node(&record))) {
                continue;
            }
            queue.extend(next(&record));
            records.push(record);
        }
        assert!(
            records.len() >= 10,
            "the walk saw {} kinds of record",
            records.len()
        );
        // From each, `deleted` is reachable, and by a path on which every operation succeeds
        // once begun (what a person retrying would get).
        for record in &records {
            let mut frontier = VecDeque::from([record.clone()]);
            let mut visited: BTreeSet<String> = BTreeSet::new();
            let mut reached = false;
            while let Some(r) = frontier.pop_front() {
                if r.state == State::Deleted {
                    reached = true;
                    break;
                }
                if !visited.insert(format!("{:?}", node(&r))) {
                    continue;
                }
                let onward: Vec<Sandbox> = match r.state.running_operation() {
                    Some(op) => r
                        .finish(op, Outcome::Succeeded, now())
                        .map(|c| vec![c.record])
                        .unwrap_or_default(),
                    None => next(&r),
                };
                frontier.extend(onward);
            }
            let at: Node = node(record);
            assert!(reached, "no way from {at:?} to deleted");
        }
    }
}
