//! An account of the pool, its states, and the changes of its life as pure functions (SPEC:
//! pool → assigned → expired → cleaning → pool, or → quarantined). Each change computes the
//! next item (version + 1) and its audit event; the store writes both as one compare-and-set.

use chrono::{DateTime, Utc};

/// Where an account is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// Free for the next tenant.
    Pool,
    /// Serves its tenant.
    Assigned,
    /// Its tenant has no live sandbox: retention runs, and the tenant may still take it back.
    Expired,
    /// Being emptied and proved empty; then the cooldown.
    Cleaning,
    /// Cleanup left something behind or kept failing; an admin must look (`reason`).
    Quarantined,
}

impl AccountState {
    pub const ALL: [AccountState; 5] = [
        AccountState::Pool,
        AccountState::Assigned,
        AccountState::Expired,
        AccountState::Cleaning,
        AccountState::Quarantined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Pool => "pool",
            AccountState::Assigned => "assigned",
            AccountState::Expired => "expired",
            AccountState::Cleaning => "cleaning",
            AccountState::Quarantined => "quarantined",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

impl std::fmt::Display for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS account of the pool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub account_id: String,
    pub state: AccountState,
    /// The tenant it serves (assigned, expired), or served (cleaning, quarantined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Increases by one with every change; the compare-and-set token.
    #[serde(default)]
    pub version: u64,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
    /// When the tenant's last sandbox went: retention counts from here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "sbx_lifecycle::rfc3339_millis::option"
    )]
    pub expired_at: Option<DateTime<Utc>>,
    /// When the inventory found it empty: the cooldown counts from here.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "sbx_lifecycle::rfc3339_millis::option"
    )]
    pub cleaned_at: Option<DateTime<Utc>>,
    /// Cleaning attempts that failed since cleaning began.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Why it is quarantined, or why the last cleaning attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One change of an account's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// A pool account goes to `tenant`.
    Assign {
        tenant: String,
    },
    /// The tenant takes its expired account back.
    Reuse {
        tenant: String,
    },
    /// The tenant's last sandbox is gone: retention begins.
    Expire {
        tenant: String,
    },
    /// Retention is over, or an admin sends a quarantined account back: cleaning begins, and
    /// the tenant's assignment ends.
    BeginCleaning,
    /// A cleaning attempt failed; the account stays in cleaning.
    CleaningFailed {
        reason: String,
    },
    /// The inventory found the account empty: the cooldown begins.
    Cleaned,
    /// The cooldown is over: back to the pool.
    Release,
    Quarantine {
        reason: String,
    },
}

impl AccountChange {
    pub fn name(&self) -> &'static str {
        match self {
            AccountChange::Assign { .. } => "assign",
            AccountChange::Reuse { .. } => "reuse",
            AccountChange::Expire { .. } => "expire",
            AccountChange::BeginCleaning => "begin-cleaning",
            AccountChange::CleaningFailed { .. } => "cleaning-failed",
            AccountChange::Cleaned => "cleaned",
            AccountChange::Release => "release",
            AccountChange::Quarantine { .. } => "quarantine",
        }
    }

    /// Whether the tenant's assignment item ends with this change.
    pub fn ends_assignment(&self, from: AccountState) -> bool {
        matches!(self, AccountChange::BeginCleaning) && from == AccountState::Expired
    }
}

/// One entry of an account's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountEvent {
    pub account_id: String,
    /// The account's version after the change.
    pub seq: u64,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    pub at: DateTime<Utc>,
    /// What happened: `assign`, `expire`, `begin-cleaning`, ...
    pub change: String,
    /// `None` when the account was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<AccountState>,
    pub to: AccountState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A change the account's state does not allow. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    pub state: AccountState,
}

impl Account {
    /// A new pool account, and the event that adds it.
    pub fn added(account_id: &str, now: DateTime<Utc>) -> (Account, AccountEvent) {
        let now = sbx_lifecycle::rfc3339_millis::truncate(now);
        let account = Account {
            account_id: account_id.to_owned(),
            state: AccountState::Pool,
            tenant: None,
            version: 1,
            updated_at: now,
            expired_at: None,
            cleaned_at: None,
            attempts: 0,
            reason: None,
        };
        let event = account.event("add", None, now);
        (account, event)
    }

    /// The account after `change`, with its event; `Ok(None)` when the change has already
    /// happened (expiring an expired account of the same tenant).
    pub fn apply(
        &self,
        change: &AccountChange,
        now: DateTime<Utc>,
    ) -> Result<Option<(Account, AccountEvent)>, NotAllowed> {
        use AccountState::*;
        let now = sbx_lifecycle::rfc3339_millis::truncate(now);
        let refuse = Err(NotAllowed { state: self.state });
        let owned_by = |tenant: &str| self.tenant.as_deref() == Some(tenant);
        let mut next = Account {
            version: self.version + 1,
            updated_at: now,
            ..self.clone()
        };
        match change {
            AccountChange::Assign { tenant } if self.state == Pool => {
                next.state = Assigned;
                next.tenant = Some(tenant.clone());
                next.reason = None;
            }
            AccountChange::Reuse { tenant } if self.state == Assigned && owned_by(tenant) => {
                return Ok(None);
            }
            AccountChange::Reuse { tenant } if self.state == Expired && owned_by(tenant) => {
                next.state = Assigned;
                next.expired_at = None;
            }
            AccountChange::Expire { tenant } if self.state == Expired && owned_by(tenant) => {
                return Ok(None);
            }
            AccountChange::Expire { tenant } if self.state == Assigned && owned_by(tenant) => {
                next.state = Expired;
                next.expired_at = Some(now);
            }
            AccountChange::BeginCleaning if matches!(self.state, Expired | Quarantined) => {
                next.state = Cleaning;
                next.attempts = 0;
                next.cleaned_at = None;
                next.reason = None;
            }
            AccountChange::CleaningFailed { reason } if self.state == Cleaning => {
                next.attempts = self.attempts + 1;
                next.reason = Some(reason.clone());
                next.cleaned_at = None;
            }
            AccountChange::Cleaned if self.state == Cleaning => {
                next.cleaned_at = Some(now);
                next.reason = None;
            }
            AccountChange::Release if self.state == Cleaning && self.cleaned_at.is_some() => {
                next.state = Pool;
                next.tenant = None;
                next.expired_at = None;
                next.cleaned_at = None;
                next.attempts = 0;
                next.reason = None;
            }
            AccountChange::Quarantine { reason } if self.state == Cleaning => {
                next.state = Quarantined;
                next.reason = Some(reason.clone());
                next.cleaned_at = None;
            }
            _ => return refuse,
        }
        let event = next.event(change.name(), Some(self.state), now);
        Ok(Some((next, event)))
    }

    fn event(&self, change: &str, from: Option<AccountState>, at: DateTime<Utc>) -> AccountEvent {
        AccountEvent {
            account_id: self.account_id.clone(),
            seq: self.version,
            at,
            change: change.to_owned(),
            from,
            to: self.state,
            tenant: self.tenant.clone(),
            reason: self.reason.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn step(account: &Account, change: AccountChange) -> Account {
        match account.apply(&change, now()) {
            Ok(Some((next, event))) => {
                assert_eq!(event.seq, next.version);
                assert_eq!((event.from, event.to), (Some(account.state), next.state));
                next
            }
            other => panic!("{change:?} from {}: {other:?}", account.state),
        }
    }

    #[test]
    fn an_account_goes_round_the_pool() {
        let (pool, added) = Account::added("100000000001", now());
        assert_eq!((added.seq, added.from, added.to), (1, None, AccountState::Pool));
        let assigned = step(
            &pool,
            AccountChange::Assign {
                tenant: "acme".into(),
            },
        );
        let expired = step(
            &assigned,
            AccountChange::Expire {
                tenant: "acme".into(),
            },
        );
        assert_eq!(expired.expired_at, Some(now()));
        let cleaning = step(&expired, AccountChange::BeginCleaning);
        assert!(AccountChange::BeginCleaning.ends_assignment(expired.state));
        // Release waits for the inventory.
        assert!(cleaning.apply(&AccountChange::Release, now()).is_err());
        let failed = step(
            &cleaning,
            AccountChange::CleaningFailed {
                reason: "DeleteSubnet".into(),
            },
        );
        assert_eq!(failed.attempts, 1);
        let cleaned = step(&failed, AccountChange::Cleaned);
        let back = step(&cleaned, AccountChange::Release);
        assert_eq!(back.state, AccountState::Pool);
        assert_eq!(
            (back.tenant, back.attempts, back.reason, back.version),
            (None, 0, None, 7)
        );
    }

    #[test]
    fn quarantine_keeps_the_reason_until_cleaning_begins_again() {
        let (pool, _) = Account::added("100000000001", now());
        let cleaning = step(
            &step(
                &step(
                    &pool,
                    AccountChange::Assign {
                        tenant: "acme".into(),
                    },
                ),
                AccountChange::Expire {
                    tenant: "acme".into(),
                },
            ),
            AccountChange::BeginCleaning,
        );
        let quarantined = step(
            &cleaning,
            AccountChange::Quarantine {
                reason: "left: i-1".into(),
            },
        );
        assert_eq!(quarantined.reason.as_deref(), Some("left: i-1"));
        assert_eq!(quarantined.tenant.as_deref(), Some("acme"));
        assert!(!AccountChange::BeginCleaning.ends_assignment(quarantined.state));
        let again = step(&quarantined, AccountChange::BeginCleaning);
        assert_eq!((again.state, again.reason), (AccountState::Cleaning, None));
    }

    #[test]
    fn repeated_and_foreign_changes() {
        let (pool, _) = Account::added("100000000001", now());
        let assigned = step(
            &pool,
            AccountChange::Assign {
                tenant: "acme".into(),
            },
        );
        let expired = step(
            &assigned,
            AccountChange::Expire {
                tenant: "acme".into(),
            },
        );
        assert_eq!(
            expired.apply(
                &AccountChange::Expire {
                    tenant: "acme".into()
                },
                now()
            ),
            Ok(None)
        );
        assert_eq!(
            assigned.apply(
                &AccountChange::Reuse {
                    tenant: "acme".into()
                },
                now()
            ),
            Ok(None)
        );
        for (account, change) in [
            (
                &expired,
                AccountChange::Expire {
                    tenant: "globex".into(),
                },
            ),
            (
                &expired,
                AccountChange::Reuse {
                    tenant: "globex".into(),
                },
            ),
            (
                &assigned,
                AccountChange::Assign {
                    tenant: "globex".into(),
                },
            ),
            (&assigned, AccountChange::BeginCleaning),
            (&pool, AccountChange::Quarantine { reason: "x".into() }),
        ] {
            assert_eq!(
                account.apply(&change, now()),
                Err(NotAllowed { state: account.state }),
                "{change:?}"
            );
        }
        let back = step(
            &expired,
            AccountChange::Reuse {
                tenant: "acme".into(),
            },
        );
        assert_eq!((back.state, back.expired_at), (AccountState::Assigned, None));
    }
}
