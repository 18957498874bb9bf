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

/// The settings the handlers are tested with: links on `https://api.example`, public
/// receivers only, the deployed disabling period.
pub fn settings() -> crate::settings::Settings {
    crate::settings::Settings {
        bus: "sbx".into(),
        api_url: "https://api.example".into(),
        policy: sbx_webhooks::Policy::default(),
        disable_after: crate::settings::Settings::DISABLE_AFTER,
    }
}

fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
