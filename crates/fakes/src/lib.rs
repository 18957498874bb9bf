//! In-memory fakes of the ports the handlers take, for their unit tests (the steps', the API's
//! and the notify functions'). A dev-dependency only: nothing that ships links it. One module per
//! fake, named after the ports it stands for:
//! - [`aws`]: [`FakeAws`], the AWS-side ports of `sbx_aws`;
//! - [`store`]: [`FakeStore`], every port of `sbx_store`, one file per port;
//! - [`workflows`]: [`FakeWorkflows`], the lifecycle's executions (`sbx_workflows::Workflows`);
//! - [`deliveries`]: [`FakeDeliveries`], the webhook deliveries' executions
//!   (`sbx_workflows::deliveries::Deliveries`);
//! - [`seal`]: [`FakeSeal`], webhook secrets sealed without KMS (`sbx_store::Seal`).
//!
//! Each honours what the real API honours (client tokens, names that start once, conditional
//! writes), so a handler's re-run can be tested against it.

pub mod aws;
pub mod deliveries;
pub mod seal;
pub mod store;
pub mod workflows;

pub use aws::{FakeAws, State};
pub use deliveries::FakeDeliveries;
pub use seal::FakeSeal;
pub use store::{FakeDeadline, FakeMeter, FakeStore, KeyUse, MonthItem};
pub use workflows::FakeWorkflows;

use std::sync::{Mutex, MutexGuard};

/// The account the fakes' examples live in.
pub const ACCOUNT: &str = "100000000001";

pub(crate) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
