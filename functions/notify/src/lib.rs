//! Events out. Every item put into the events table (a sandbox's or an account's change of
//! state) is published once per stream record: on the `sbx` EventBridge bus, and to each
//! webhook endpoint of its tenant that wants its type, through a `deliver` execution per
//! delivery.
//!
//! - [`message`]: an item of the events table → the message: stable id, type, thin payload.
//! - [`batch`]: `publish-events`, the stream's consumer: a batch in order, what cannot be read
//!   parked ([`park`]), the first record not done named to the event source mapping.
//! - [`publish`]: the readable entries to the bus and the deliveries.
//! - [`deliver`]: `deliver-webhook`, one step of a delivery's execution.
//! - [`functions`]: each function built from an [`Init`] ([`lambda`]), one way.
//! - [`bus`]: the EventBridge adapter (the executions' is `sbx_workflows::deliveries`).

pub mod batch;
pub mod bus;
pub mod deliver;
pub mod error;
#[cfg(test)]
pub mod fakes;
pub mod functions;
pub mod lambda;
pub mod message;
pub mod park;
pub mod publish;
pub mod settings;

pub use error::NotifyError;
pub use functions::{invoke, publish_events};
pub use lambda::Init;
pub use settings::Settings;

/// The functions the state machines call (`publish-events` is called by the stream).
pub const FUNCTIONS: [&str; 1] = ["deliver-webhook"];

/// Every Lambda of this crate (a `[[bin]]` each).
pub const LAMBDAS: [&str; 2] = ["deliver-webhook", "publish-events"];
