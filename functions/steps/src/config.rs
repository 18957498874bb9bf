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
    /// `SBX_LOCK_LEASE_SECONDS` (default 45 min): how long a lease lasts unless released. A
    /// create holds the lock from the allocation to the end (SPEC), so this covers its bounded
    /// waits: instances (60 × 5 s) and the SSM command (120 × 10 s), with room for retries.
    pub lease: std::time::Duration,
    /// `SBX_LOCK_WAIT_SECONDS` (default 20 s): how long acquiring waits before failing with
    /// `Sbx.LockHeld`.
    pub wait: std::time::Duration,
}

impl LockSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            lease: vars.seconds("SBX_LOCK_LEASE_SECONDS", 2700)?,
            wait: vars.seconds("SBX_LOCK_WAIT_SECONDS", 20)?,
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
                lease: Duration::from_secs(2700),
                wait: Duration::from_secs(20)
            })
        );
        assert!(matches!(
            LockSettings::from_vars(&vars(&[("SBX_LOCK_WAIT_SECONDS", "soon")])),
            Err(ConfigError::Invalid {
                name: "SBX_LOCK_WAIT_SECONDS",
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
