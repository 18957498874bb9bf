//! What the notify functions are configured with, read from their environment by
//! [`crate::Init::settings`] (deployed and on the local stack alike).

use sbx_webhooks::Policy;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `SBX_EVENT_BUS`: the bus events are put on.
    pub bus: String,
    /// `SBX_API_URL`: the base of the links in payloads.
    pub api_url: String,
    /// Where deliveries may go (loopback only on the local stack).
    pub policy: Policy,
    /// `SBX_WEBHOOK_DISABLE_AFTER_SECONDS` (default 5 days): an endpoint whose every delivery
    /// failed for this long is disabled.
    pub disable_after: chrono::Duration,
}

impl Settings {
    /// The deployed default of [`Settings::disable_after`].
    pub const DISABLE_AFTER: chrono::Duration = chrono::Duration::days(5);
}
