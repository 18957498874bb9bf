//! Notices: what sbx tells a tenant about a sandbox without a change of its state (an expiry
//! coming). Each is put once into the events table, into the sandbox's own partition with its
//! audit trail, numbered above every version ([`NOTICES_FROM`]), and published from there as
//! its changes are: one partition is one shard of the table's stream, read in order, so a
//! sandbox's notices and changes reach the bus and its webhooks in the order they were made.

use chrono::{DateTime, Utc};
use sbx_lifecycle::rfc3339_millis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// The sandbox expires in `threshold_seconds` (about).
    Expiring,
    /// The sandbox has been idle for its idle timeout; it is stopped at `stop_at` unless it is
    /// used before.
    Idle,
    /// The sandbox is being stopped because it was idle.
    IdleStopped,
    /// A scheduled start did not happen: `reason` says why (`budget`, `busy`, ...).
    StartSkipped,
    /// A scheduled stop did not happen: `reason` says why.
    StopSkipped,
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
    /// For `Expiring`: how long before the expiry.
    #[serde(default)]
    pub threshold_seconds: u64,
    /// For `Idle`: when it is stopped unless used before.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_millis::option"
    )]
    pub stop_at: Option<DateTime<Utc>>,
    /// For `Idle` and `IdleStopped`: the idle timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<u32>,
    /// For `StartSkipped` and `StopSkipped`: why, and the occurrence it was due at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_millis::option"
    )]
    pub scheduled_at: Option<DateTime<Utc>>,
}

impl Notice {
    /// The expiry warning of `threshold_seconds` for the expiry `expires_at`: one per pair.
    pub fn expiring(sandbox: &sbx_lifecycle::Sandbox, threshold_seconds: u64, at: DateTime<Utc>) -> Self {
        let due = sandbox.expires_at - chrono::Duration::seconds(threshold_seconds as i64);
        Notice {
            tenant: sandbox.tenant.clone(),
            sandbox_id: sandbox.id.clone(),
            seq: seq(due, 0),
            version: sandbox.version,
            kind: NoticeKind::Expiring,
            at: rfc3339_millis::truncate(at),
            expires_at: sandbox.expires_at,
            threshold_seconds,
            stop_at: None,
            idle_minutes: None,
            reason: None,
            scheduled_at: None,
        }
    }

    /// The idle warning given `at`: stopped at `stop_at` unless used before.
    pub fn idle(
        sandbox: &sbx_lifecycle::Sandbox,
        idle_minutes: u32,
        at: DateTime<Utc>,
        stop_at: DateTime<Utc>,
    ) -> Self {
        Notice {
            seq: seq(at, 1),
            kind: NoticeKind::Idle,
            stop_at: Some(rfc3339_millis::truncate(stop_at)),
            ..Self::idle_stopped(sandbox, idle_minutes, at)
        }
    }

    /// The idle stop begun `at`.
    pub fn idle_stopped(sandbox: &sbx_lifecycle::Sandbox, idle_minutes: u32, at: DateTime<Utc>) -> Self {
        Notice {
            tenant: sandbox.tenant.clone(),
            sandbox_id: sandbox.id.clone(),
            seq: seq(at, 2),
            version: sandbox.version,
            kind: NoticeKind::IdleStopped,
            at: rfc3339_millis::truncate(at),
            expires_at: sandbox.expires_at,
            threshold_seconds: 0,
            stop_at: None,
            idle_minutes: Some(idle_minutes),
            reason: None,
            scheduled_at: None,
        }
    }

    /// The scheduled `operation` due at `scheduled_at` that did not happen, for `reason`: one
    /// per occurrence.
    pub fn skipped(
        sandbox: &sbx_lifecycle::Sandbox,
        operation: sbx_lifecycle::Operation,
        reason: &str,
        scheduled_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Self {
        let (kind, number) = match operation {
            sbx_lifecycle::Operation::Start => (NoticeKind::StartSkipped, 3),
            _ => (NoticeKind::StopSkipped, 4),
        };
        Notice {
            tenant: sandbox.tenant.clone(),
            sandbox_id: sandbox.id.clone(),
            seq: seq(scheduled_at, number),
            version: sandbox.version,
            kind,
            at: rfc3339_millis::truncate(at),
            expires_at: sandbox.expires_at,
            threshold_seconds: 0,
            stop_at: None,
            idle_minutes: None,
            reason: Some(reason.to_owned()),
            scheduled_at: Some(rfc3339_millis::truncate(scheduled_at)),
        }
    }
}

/// A notice's number: the moment it is about, in milliseconds, and what it is (0 expiry, 1 idle,
/// 2 idle stop, 3 start skipped, 4 stop skipped), so that notices sort in the order of their moments and one moment's notice of
/// one kind is given once.
fn seq(moment: DateTime<Utc>, kind: u64) -> u64 {
    (moment.timestamp_millis().max(0) as u64) * 10 + kind
}

/// Where notices are numbered from in their sandbox's partition of the events table: every
/// notice's `seq` (a moment in milliseconds, times ten) is above it, every version of a record
/// below it. The audit trail reads below it only.
pub const NOTICES_FROM: u64 = 10_000_000_000;
