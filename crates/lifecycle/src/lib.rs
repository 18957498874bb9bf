//! The sandbox lifecycle of SPEC.md as data and pure functions.
//!
//! A [`Sandbox`] moves between eight [`State`]s through four [`Operation`]s. Which operation may
//! begin from which state, and where it leads, is the table [`RULES`]. Every change is computed
//! here as a [`Change`]: the next record (version + 1) and the audit [`Event`] that describes it.
//! Persisting a change as one compare-and-set is the store's job, not this crate's.

mod actions;
pub mod cost;
pub mod rules;
mod sandbox;
pub mod schedule;
mod time;

pub use actions::{Action, Actions};
pub use cost::Cost;
pub use sandbox::{
    AmqEndpoint, Change, Endpoints, Event, Failure, InstanceSize, NewSandbox, Outcome, Sandbox,
    SandboxOptions,
};
pub use schedule::{Recurrence, Schedule};
pub use time::rfc3339_millis;

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a sandbox is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Initializing,
    Started,
    Stopping,
    Stopped,
    Starting,
    Deleting,
    Deleted,
    Failed,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Initializing,
        State::Started,
        State::Stopping,
        State::Stopped,
        State::Starting,
        State::Deleting,
        State::Deleted,
        State::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Initializing => "initializing",
            State::Started => "started",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Starting => "starting",
            State::Deleting => "deleting",
            State::Deleted => "deleted",
            State::Failed => "failed",
        }
    }

    /// An operation is running: the state is some operation's in-progress state.
    pub fn is_transitional(self) -> bool {
        self.running_operation().is_some()
    }

    /// The operation whose in-progress state this is.
    pub fn running_operation(self) -> Option<Operation> {
        RULES
            .iter()
            .find(|rule| rule.running == self)
            .map(|rule| rule.operation)
    }

    /// Active sandboxes need the account infrastructure (SPEC: initializing, starting, started).
    pub fn is_active(self) -> bool {
        matches!(self, State::Initializing | State::Starting | State::Started)
    }

    /// Every state but `deleted` counts against the tenant's quota.
    pub fn is_live(self) -> bool {
        self != State::Deleted
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for State {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sandbox state {0:?}")]
pub struct UnknownState(pub String);

/// What can be done to a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Start,
    Stop,
    Delete,
}

impl Operation {
    pub const ALL: [Operation; 4] = [
        Operation::Create,
        Operation::Start,
        Operation::Stop,
        Operation::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Start => "start",
            Operation::Stop => "stop",
            Operation::Delete => "delete",
        }
    }

    /// This operation's row of [`RULES`].
    pub fn rule(self) -> &'static Rule {
        // RULES has exactly one row per operation, in the order of Operation::ALL.
        &RULES[self as usize]
    }

    /// The state a sandbox is in while this operation runs.
    pub fn running(self) -> State {
        self.rule().running
    }

    /// The state this operation leads to when it succeeds.
    pub fn succeeded(self) -> State {
        self.rule().succeeded
    }

    /// Whether this operation may begin on a sandbox in `state` (whose last failure, if
    /// `state` is `failed`, was `failure`). `None` is a sandbox that does not exist yet.
    pub fn may_begin(self, state: Option<State>, failure: Option<&Failure>) -> bool {
        self.rule()
            .from
            .iter()
            .any(|origin| origin.admits(state, failure))
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an operation may begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// No record exists yet.
    New,
    /// The sandbox is in this state.
    In(State),
    /// The sandbox is `failed`, and the operation that failed was this one.
    FailedAfter(Operation),
}

impl Origin {
    fn admits(self, state: Option<State>, failure: Option<&Failure>) -> bool {
        match self {
            Origin::New => state.is_none(),
            Origin::In(s) => state == Some(s),
            Origin::FailedAfter(op) => {
                state == Some(State::Failed) && failure.is_some_and(|failure| failure.operation == op)
            }
        }
    }
}

/// One row of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub operation: Operation,
    pub from: &'static [Origin],
    pub running: State,
    pub succeeded: State,
}

/// The transition table of SPEC.md. Any operation that fails ends in `failed`.
pub const RULES: [Rule; 4] = [
    Rule {
        operation: Operation::Create,
        from: &[Origin::New],
        running: State::Initializing,
        succeeded: State::Started,
    },
    Rule {
        operation: Operation::Start,
        from: &[
            Origin::In(State::Stopped),
            Origin::FailedAfter(Operation::Start),
            Origin::FailedAfter(Operation::Stop),
        ],
        running: State::Starting,
        succeeded: State::Started,
    },
    Rule {
        operation: Operation::Stop,
        from: &[Origin::In(State::Started)],
        running: State::Stopping,
        succeeded: State::Stopped,
    },
    Rule {
        operation: Operation::Delete,
        from: &[
            Origin::In(State::Started),
            Origin::In(State::Stopped),
            Origin::In(State::Failed),
        ],
        running: State::Deleting,
        succeeded: State::Deleted,
    },
];

/// A transition the table does not allow. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {operation} a sandbox that is {current}")]
pub struct Refused {
    pub operation: Operation,
    pub current: State,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_indexed_by_operation() {
        for op in Operation::ALL {
            assert_eq!(op.rule().operation, op);
        }
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in State::ALL {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(serde_json::json!(state.as_str()))
            );
        }
        assert!("paused".parse::<State>().is_err());
    }

    #[test]
    fn active_and_transitional_states_are_as_in_the_spec() {
        let active: Vec<State> = State::ALL.into_iter().filter(|s| s.is_active()).collect();
        assert_eq!(active, [State::Initializing, State::Started, State::Starting]);
        let transitional: Vec<State> = State::ALL.into_iter().filter(|s| s.is_transitional()).collect();
        assert_eq!(
            transitional,
            [
                State::Initializing,
                State::Stopping,
                State::Starting,
                State::Deleting
            ]
        );
    }
}
