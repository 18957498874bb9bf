//! In-memory fakes of the ports the notify functions define themselves, for their unit tests
//! (the store's and the executions' fakes are `sbx_fakes`): one module per fake.
//! - [`bus`]: [`FakeBus`], the event bus ([`crate::publish::Bus`]);
//! - [`receiver`]: [`FakeReceiver`], the network and a webhook receiver
//!   ([`crate::deliver::Sender`]);
//! - [`parking`]: [`FakeParking`], the queue unreadable records are parked in
//!   ([`crate::park::Parking`]);
//! - [`stream`]: [`FakeStream`], the events table's stream, as the items it carries.

pub mod bus;
pub mod parking;
pub mod receiver;
pub mod stream;

pub use bus::FakeBus;
pub use parking::FakeParking;
pub use receiver::FakeReceiver;
pub use stream::FakeStream;

fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
