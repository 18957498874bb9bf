//! Notices: what sbx tells a tenant about a sandbox without a change of its state (an expiry
//! coming). Each is put once into the events table, in a partition of the sandbox's own
//! beside its audit trail, and published from there as its changes are.

use chrono::{DateTime, Utc};
use sbx_lifecycle::rfc3339_millis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The sandbox expires in `threshold_seconds` (about).
    Expiring,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub tenant: String,
    pub sandbox_id: String,
    /// Unique per sandbox and what it tells (putting it twice puts it once), and in the order
    /// the notices are given.
    pub seq: u64,
    /// The record's version when it was given: its place among the sandbox's changes.
    pub version: u64,
    pub kind: NoticeKind,
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    #[serde(with = "rfc3339_millis")]
    pub expires_at: DateTime<Utc>,
    pub threshold_seconds: u64,
}

impl Notice {
    /// The expiry warning of `threshold_seconds` for the expiry `expires_at`: one per pair.
    pub fn expiring(sandbox: &sbx_lifecycle::Sandbox, threshold_seconds: u64, at: DateTime<Utc>) -> Self {
        Notice {
            tenant: sandbox.tenant.clone(),
            sandbox_id: sandbox.id.clone(),
            // Later warnings sort later: a nearer threshold, or a later expiry, is a larger seq.
            seq: (sandbox.expires_at.timestamp().max(0) as u64) * 1_000_000
                + (999_999 - threshold_seconds.min(999_999)),
            version: sandbox.version,
            kind: NoticeKind::Expiring,
            at: rfc3339_millis::truncate(at),
            expires_at: sandbox.expires_at,
            threshold_seconds,
        }
    }
}

/// The events-table partition of a sandbox's notices. `@` cannot begin a tenant name.
pub(crate) fn notice_partition(tenant: &str, id: &str) -> String {
    format!("@notice#{tenant}#{id}")
}
