//! The typed settings of the step functions, one type per concern, each read from the
//! function's environment (`SBX_*`) by the function that needs it and by no other. A missing or
//! malformed setting is a [`ConfigError`] naming the variable, which fails the function's init.

pub use sbx_bootstrap::{ConfigError, Vars};

/// The images a sandbox's VMs are launched from (`SBX_ACP_IMAGE_ID`, `SBX_OCP_IMAGE_ID`),
/// owned by the management account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxImages {
    pub acp: String,
    pub ocp: String,
}

impl SandboxImages {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            acp: vars.required("SBX_ACP_IMAGE_ID")?,
            ocp: vars.required("SBX_OCP_IMAGE_ID")?,
        })
    }
}

/// Every image shared with a tenant account: the sandbox's and the proxies'
/// (`SBX_PROXY_IMAGE_ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    pub acp: String,
    pub ocp: String,
    pub proxy: String,
}

impl Images {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let SandboxImages { acp, ocp } = SandboxImages::from_vars(vars)?;
        Ok(Self {
            acp,
            ocp,
            proxy: vars.required("SBX_PROXY_IMAGE_ID")?,
        })
    }

    pub fn sandbox(&self) -> SandboxImages {
        SandboxImages {
            acp: self.acp.clone(),
            ocp: self.ocp.clone(),
        }
    }

    pub fn all(&self) -> [&str; 3] {
        [&self.acp, &self.ocp, &self.proxy]
    }
}

/// The account lock's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockSettings {
    /// `SBX_LOCK_LEASE_SECONDS` (default 15 min): how long a lease lasts unless released. The
    /// lock covers only a change of the shared infrastructure, so this covers the longest one:
    /// its bounded wait for AWS (60 × 10 s for a NAT gateway to become available or deleted),
    /// with room for retries.
    pub lease: std::time::Duration,
    /// `SBX_VISIBILITY_SECONDS` (default 120): how long a resource EC2 made may stay invisible
    /// to its describes. A VPC create, which takes no client token, is not sent again within
    /// this long of the last one (a lease on `vpc-create:<account>`).
    pub visibility: std::time::Duration,
}

impl LockSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            lease: vars.seconds("SBX_LOCK_LEASE_SECONDS", 900)?,
            visibility: vars.seconds("SBX_VISIBILITY_SECONDS", 120)?,
        })
    }
}

/// `SBX_PROVISIONING_ROLE` (default `sbx-provisioning`): the role assumed in every tenant
/// account.
pub fn provisioning_role(vars: &Vars) -> String {
    vars.or("SBX_PROVISIONING_ROLE", "sbx-provisioning")
}

/// `SBX_INGRESS_DOMAIN`: sandboxes are reachable at `<sandbox>.<tenant>.<domain>`.
pub fn ingress_domain(vars: &Vars) -> String {
    vars.or("SBX_INGRESS_DOMAIN", "sandboxes.sbx.example")
}

/// The proxies' image (`SBX_PROXY_IMAGE_ID`) and instance type (`SBX_PROXY_INSTANCE_TYPE`,
/// default `t3.small`).
pub fn proxy(vars: &Vars) -> Result<sbx_aws::infra::ProxySpec, ConfigError> {
    Ok(sbx_aws::infra::ProxySpec {
        image_id: vars.required("SBX_PROXY_IMAGE_ID")?,
        instance_type: vars.or("SBX_PROXY_INSTANCE_TYPE", "t3.small"),
    })
}

/// The AppStream fleet's image (`SBX_APPSTREAM_IMAGE`) and instance type
/// (`SBX_APPSTREAM_INSTANCE_TYPE`).
pub fn streaming(vars: &Vars) -> sbx_aws::streaming::Streaming {
    sbx_aws::streaming::Streaming::AppStream {
        image_name: vars.or("SBX_APPSTREAM_IMAGE", "sbx-smart-client"),
        instance_type: vars.or("SBX_APPSTREAM_INSTANCE_TYPE", "stream.standard.medium"),
    }
}

/// The garbage collector's timing and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepSettings {
    /// `SBX_GC_GRACE_SECONDS` (default 5 min): how long a record in a transitional state may
    /// have no execution (the API's moment between changing it and starting one).
    pub grace: chrono::Duration,
    /// `SBX_GC_DEADLINE_SECONDS` (default 2 h, the workflows' own timeout): a running
    /// execution older than this is reported.
    pub deadline: chrono::Duration,
    /// `SBX_ACCOUNT_RETENTION_SECONDS` (default 24 h): how long an account with no live
    /// sandbox stays its tenant's before it is cleaned.
    pub retention: chrono::Duration,
    /// `SBX_ACCOUNT_COOLDOWN_SECONDS` (default 1 h): how long a cleaned account waits before
    /// it goes back to the pool.
    pub cooldown: chrono::Duration,
    /// `SBX_CLEAN_ATTEMPTS` (default 3): failed cleaning attempts before quarantine.
    pub attempts: u32,
    /// `SBX_GC_BATCH` (default 1000): at most this many records per part and sweep.
    pub batch: usize,
    /// `SBX_METER_BATCH` (default 10,000): at most this many meters are moved on per spend run,
    /// whole accounts at a time, the accounts metered longest ago first; the rest wait for the
    /// next run.
    pub meter_batch: usize,
    /// `SBX_POOL_LOW_WATER` (default 2): fewer pool accounts than this, and new ones are made.
    pub low_water: usize,
    /// `SBX_GC_CLOCK=movable`: a sweep may be started `as_of` another time (the local stack's
    /// way to make time pass). Off unless set.
    pub movable_clock: bool,
    /// No execution started before this time exists any more: the local engine, which keeps
    /// its executions in memory, started then. A record whose execution is not found and that
    /// was last changed before it is reconciled without waiting for the grace. `None` on AWS,
    /// where executions outlive any process.
    pub executions_lost_before: Option<chrono::DateTime<chrono::Utc>>,
    /// `SBX_EXPIRY_WARNINGS` (default `86400,3600`): how long before an expiry a
    /// `sandbox.expiring` notice is given, in seconds, each once per expiry (at most 7 days).
    pub expiry_warnings: Vec<u64>,
}

/// The deployed defaults: what a function gets without any `SBX_GC_*` or account variable.
impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            grace: chrono::Duration::minutes(5),
            deadline: chrono::Duration::hours(2),
            retention: chrono::Duration::hours(24),
            cooldown: chrono::Duration::hours(1),
            attempts: 3,
            batch: 1000,
            meter_batch: 10_000,
            low_water: 2,
            movable_clock: false,
            executions_lost_before: None,
            expiry_warnings: sbx_store::TenantSettings::DEFAULT_EXPIRY_WARNINGS.to_vec(),
        }
    }
}

impl SweepSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let duration = |name, default: chrono::Duration| -> Result<chrono::Duration, ConfigError> {
            let seconds = vars.seconds(name, default.num_seconds().max(0) as u64)?;
            Ok(chrono::Duration::from_std(seconds).unwrap_or(chrono::Duration::MAX))
        };
        let whole = |name: &'static str, default: usize| -> Result<usize, ConfigError> {
            match vars.optional(name) {
                None => Ok(default),
                Some(value) => value.parse().map_err(|_| ConfigError::Invalid {
                    name,
                    expected: "a whole number",
                    value,
                }),
            }
        };
        Ok(Self {
            grace: duration("SBX_GC_GRACE_SECONDS", defaults.grace)?,
            deadline: duration("SBX_GC_DEADLINE_SECONDS", defaults.deadline)?,
            retention: duration("SBX_ACCOUNT_RETENTION_SECONDS", defaults.retention)?,
            cooldown: duration("SBX_ACCOUNT_COOLDOWN_SECONDS", defaults.cooldown)?,
            attempts: whole("SBX_CLEAN_ATTEMPTS", defaults.attempts as usize)?.clamp(1, 100) as u32,
            batch: whole("SBX_GC_BATCH", defaults.batch)?.clamp(1, 100_000),
            meter_batch: whole("SBX_METER_BATCH", defaults.meter_batch)?.clamp(1, 1_000_000),
            low_water: whole("SBX_POOL_LOW_WATER", defaults.low_water)?,
            movable_clock: vars.optional("SBX_GC_CLOCK").as_deref() == Some("movable"),
            executions_lost_before: None,
            expiry_warnings: match vars.optional("SBX_EXPIRY_WARNINGS") {
                None => defaults.expiry_warnings,
                Some(value) => expiry_warnings(&value).ok_or(ConfigError::Invalid {
                    name: "SBX_EXPIRY_WARNINGS",
                    expected: "seconds before the expiry, comma-separated, each at most 7 days",
                    value,
                })?,
            },
        })
    }
}

/// `86400,3600` → [86400, 3600]: each a whole number of seconds from 1 to 7 days.
fn expiry_warnings(text: &str) -> Option<Vec<u64>> {
    let horizon = sbx_store::WARNING_HORIZON.num_seconds() as u64;
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            part.trim()
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=horizon).contains(s))
        })
        .collect()
}

/// The organization new pool accounts are made in (`SBX_OU_POOL`, `SBX_OU_CUSTOMERS`,
/// `SBX_OU_EXPIRED`, `SBX_OU_QUARANTINE`, and `SBX_ACCOUNT_EMAIL_DOMAIN`); `None` when no unit is
/// set. Setting some units but not all is an error.
pub fn organization_units(
    vars: &Vars,
) -> Result<Option<(sbx_aws::organizations::Units, String)>, ConfigError> {
    const UNITS: [&str; 4] = [
        "SBX_OU_POOL",
        "SBX_OU_CUSTOMERS",
        "SBX_OU_EXPIRED",
        "SBX_OU_QUARANTINE",
    ];
    if UNITS.iter().all(|name| vars.optional(name).is_none()) {
        return Ok(None);
    }
    let units = sbx_aws::organizations::Units {
        pool: vars.required(UNITS[0])?,
        customers: vars.required(UNITS[1])?,
        expired: vars.required(UNITS[2])?,
        quarantine: vars.required(UNITS[3])?,
    };
    Ok(Some((units, vars.required("SBX_ACCOUNT_EMAIL_DOMAIN")?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Vars::from_fn(move |name| map.get(name).cloned())
    }

    #[test]
    fn sweep_settings_default_as_deployed_and_name_a_bad_value() {
        assert_eq!(SweepSettings::from_vars(&vars(&[])), Ok(SweepSettings::default()));
        let set = SweepSettings::from_vars(&vars(&[
            ("SBX_ACCOUNT_RETENTION_SECONDS", "60"),
            ("SBX_POOL_LOW_WATER", "4"),
            ("SBX_GC_CLOCK", "movable"),
        ]));
        let set = set.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (set.retention, set.low_water, set.movable_clock),
            (chrono::Duration::seconds(60), 4, true)
        );
        let bad = SweepSettings::from_vars(&vars(&[("SBX_CLEAN_ATTEMPTS", "many")]));
        assert!(
            matches!(
                bad,
                Err(ConfigError::Invalid {
                    name: "SBX_CLEAN_ATTEMPTS",
                    ..
                })
            ),
            "{bad:?}"
        );
        assert!(SweepSettings::from_vars(&vars(&[("SBX_GC_CLOCK", "yes")])).is_ok_and(|s| !s.movable_clock));
    }

    #[test]
    fn a_missing_image_is_named() {
        let only_acp = vars(&[("SBX_ACP_IMAGE_ID", "ami-a"), ("SBX_PROXY_IMAGE_ID", "")]);
        assert_eq!(
            SandboxImages::from_vars(&only_acp),
            Err(ConfigError::Missing("SBX_OCP_IMAGE_ID"))
        );
        let sandbox = vars(&[("SBX_ACP_IMAGE_ID", "ami-a"), ("SBX_OCP_IMAGE_ID", "ami-o")]);
        assert!(SandboxImages::from_vars(&sandbox).is_ok());
        assert_eq!(
            Images::from_vars(&sandbox),
            Err(ConfigError::Missing("SBX_PROXY_IMAGE_ID")),
            "an empty value is unset"
        );
        assert_eq!(
            proxy(&sandbox).err(),
            Some(ConfigError::Missing("SBX_PROXY_IMAGE_ID"))
        );
    }

    #[test]
    fn lock_timing_has_defaults_and_refuses_words() {
        assert_eq!(
            LockSettings::from_vars(&vars(&[])),
            Ok(LockSettings {
                lease: Duration::from_secs(900),
                visibility: Duration::from_secs(120),
            })
        );
        assert!(matches!(
            LockSettings::from_vars(&vars(&[("SBX_LOCK_LEASE_SECONDS", "soon")])),
            Err(ConfigError::Invalid {
                name: "SBX_LOCK_LEASE_SECONDS",
                ..
            })
        ));
        assert_eq!(provisioning_role(&vars(&[])), "sbx-provisioning");
        assert_eq!(
            ingress_domain(&vars(&[("SBX_INGRESS_DOMAIN", "sbx.bank")])),
            "sbx.bank"
        );
    }
}
