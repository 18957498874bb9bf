//! Webhooks out, without AWS.
//!
//! - [`address`]: which URLs may receive deliveries. Only `https`, only public addresses: a
//!   private, loopback, link-local (the instance metadata service among them), carrier-grade
//!   NAT, multicast or reserved address is refused at registration and again at each delivery,
//!   and a delivery connects to the addresses it checked (no second resolution to rebind).
//!   The local stack alone may allow loopback receivers, over plain HTTP too.
//! - [`secret`]: `whsec_` secrets.
//! - [`signature`]: the Standard Webhooks headers, signed with every active secret.
//! - [`send`]: one delivery attempt.
//! - [`retry`]: when a failed attempt is tried again, and when a delivery is given up.

pub mod address;
pub mod retry;
pub mod secret;
pub mod send;
pub mod signature;

pub use address::{Policy, Refusal, Target};
pub use retry::Next;
pub use send::{Answer, Attempt};

/// Every event type sbx publishes; an endpoint subscribes to some of them, or to all.
pub const EVENT_TYPES: [&str; 23] = [
    "sandbox.created",
    "sandbox.creating",
    "sandbox.started",
    "sandbox.stopping",
    "sandbox.stopped",
    "sandbox.starting",
    "sandbox.deleting",
    "sandbox.deleted",
    "sandbox.failed",
    "sandbox.expiring",
    "sandbox.idle",
    "sandbox.idle-stopped",
    "sandbox.start-skipped",
    "sandbox.stop-skipped",
    "account.pool",
    "account.assigned",
    "account.expired",
    "account.cleaning",
    "account.quarantined",
    "budget.updated",
    "budget.threshold",
    "webhook.disabled",
    "webhook.enabled",
];
