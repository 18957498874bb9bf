//! What a person may do with a sandbox now, and why not: the transition table read from the
//! other side, for a client that shows buttons (the console) instead of trying and reading a
//! 409.

use crate::{Operation, Origin, Sandbox, State, rules};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Whether one action is allowed; when it is not, a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Action {
    fn allowed() -> Self {
        Self {
            allowed: true,
            reason: None,
        }
    }

    fn refused(reason: String) -> Self {
        Self {
            allowed: false,
            reason: Some(reason),
        }
    }
}

/// The four actions on an existing sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actions {
    pub start: Action,
    pub stop: Action,
    pub delete: Action,
    /// `PATCH` of `expires_at`.
    pub extend: Action,
}

/// Where `operation` may begin, in words: `stopped, or failed after a failed start or stop`.
fn origins(operation: Operation) -> String {
    let rule = operation.rule();
    let mut states = Vec::new();
    let mut failed_after = Vec::new();
    for origin in rule.from {
        match origin {
            Origin::New => states.push("(new)".to_owned()),
            Origin::In(state) => states.push(state.as_str().to_owned()),
            Origin::FailedAfter(op) => failed_after.push(op.as_str()),
        }
    }
    if !failed_after.is_empty() {
        states.push(format!("failed after a failed {}", failed_after.join(" or ")));
    }
    match states.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

impl Sandbox {
    /// What may be done with this sandbox at `now`, by the same rules the API applies.
    pub fn actions(&self, now: DateTime<Utc>) -> Actions {
        let operation = |op: Operation| {
            if op.may_begin(Some(self.state), self.failure.as_ref()) {
                Action::allowed()
            } else if let Some(running) = self.state.running_operation() {
                Action::refused(format!(
                    "the sandbox is {} (its {running} is running); {op} is possible from {}",
                    self.state,
                    origins(op)
                ))
            } else {
                Action::refused(format!(
                    "the sandbox is {}; {op} is possible from {}",
                    self.state,
                    origins(op)
                ))
            }
        };
        let latest = self.created_at + Duration::hours(i64::from(rules::MAX_TTL_HOURS));
        let extend = match self.state {
            State::Deleting | State::Deleted => Action::refused(format!(
                "the sandbox is {}; its expiry can no longer change",
                self.state
            )),
            _ if self.expires_at >= latest => Action::refused(format!(
                "the sandbox already expires at the end of its maximum lifetime ({} hours)",
                rules::MAX_TTL_HOURS
            )),
            _ if latest <= now => Action::refused("the sandbox's maximum lifetime has passed".into()),
            _ => Action::allowed(),
        };
        Actions {
            start: operation(Operation::Start),
            stop: operation(Operation::Stop),
            delete: operation(Operation::Delete),
            extend,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Failure, NewSandbox, SandboxOptions};

    fn sandbox(state: State, failed: Option<Operation>) -> Sandbox {
        let now = Utc::now();
        let mut record = Sandbox::create(
            NewSandbox {
                tenant: "acme".into(),
                id: "sb-1".into(),
                name: "n".into(),
                options: SandboxOptions::default(),
                expires_at: now + Duration::hours(8),
            },
            now,
        )
        .record;
        record.state = state;
        record.failure = failed.map(|operation| Failure {
            operation,
            error: "Sbx.Test".into(),
            cause: "test".into(),
            at: now,
        });
        record
    }

    #[test]
    fn actions_follow_the_transition_table() {
        let now = Utc::now();
        for state in State::ALL {
            for failed in [
                None,
                Some(Operation::Create),
                Some(Operation::Start),
                Some(Operation::Stop),
            ] {
                let record = sandbox(state, failed);
                let actions = record.actions(now);
                for (op, action) in [
                    (Operation::Start, &actions.start),
                    (Operation::Stop, &actions.stop),
                    (Operation::Delete, &actions.delete),
                ] {
                    let allowed = record.begin(op, now).is_ok();
                    assert_eq!(action.allowed, allowed, "{op} from {state} after {failed:?}");
                    assert_eq!(action.reason.is_none(), allowed);
                }
            }
        }
    }

    #[test]
    fn a_refusal_says_what_the_sandbox_is_and_where_the_action_is_possible() {
        let now = Utc::now();
        let stopping = sandbox(State::Stopping, None).actions(now);
        assert_eq!(
            stopping.start.reason.as_deref(),
            Some(
                "the sandbox is stopping (its stop is running); start is possible from stopped, or failed after a failed start or stop"
            )
        );
        let started = sandbox(State::Started, None).actions(now);
        assert_eq!(
            started.start.reason.as_deref(),
            Some(
                "the sandbox is started; start is possible from stopped, or failed after a failed start or stop"
            )
        );
        assert_eq!(
            sandbox(State::Stopped, None).actions(now).stop.reason.as_deref(),
            Some("the sandbox is stopped; stop is possible from started")
        );
        assert!(started.extend.allowed);
        let deleting = sandbox(State::Deleting, None).actions(now);
        assert!(!deleting.extend.allowed && !deleting.delete.allowed);
        let mut at_most = sandbox(State::Started, None);
        at_most.expires_at = at_most.created_at + Duration::hours(i64::from(rules::MAX_TTL_HOURS));
        assert!(!at_most.actions(now).extend.allowed);
    }
}
