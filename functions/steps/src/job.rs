//! The payload the state machines carry between steps: the [`Job`] that `begin-operation`
//! produces (`$.job`), which every later step reads. It stays small and flat.

use crate::error::StepError;
use sbx_aws::Owner;
use sbx_lifecycle::{Operation, SandboxOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub tenant: String,
    pub sandbox_id: String,
    pub operation: Operation,
    /// The record's version while the operation runs: what finishing it compares with.
    pub version: u64,
    /// The execution id: the owner of the account lock while this job holds it.
    pub execution: String,
    /// The execution name: unique per job, the prefix of its client tokens.
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default)]
    pub options: SandboxOptions,
}

impl Job {
    /// The sandbox's account; steps that act in it fail with `Sbx.InvalidInput` before one is
    /// allocated.
    pub fn account(&self) -> Result<&str, StepError> {
        self.account_id
            .as_deref()
            .ok_or_else(|| StepError::InvalidInput(format!("sandbox {} has no account yet", self.sandbox_id)))
    }

    pub fn sandbox_owner(&self) -> Owner {
        Owner::Sandbox {
            tenant: self.tenant.clone(),
            sandbox: self.sandbox_id.clone(),
        }
    }

    pub fn account_owner(&self, account_id: &str) -> Owner {
        Owner::Account {
            tenant: self.tenant.clone(),
            account: account_id.to_owned(),
        }
    }

    /// The name of the account lock this job takes.
    pub fn lock_name(account_id: &str) -> String {
        format!("account:{account_id}")
    }

    /// A client token for `what`, unique to this job (see `sbx_aws::tags::client_token`).
    pub fn client_token(&self, what: &str) -> String {
        sbx_aws::tags::client_token(&self.token, what)
    }
}

/// The host name of a sandbox's ingress.
pub fn host(tenant: &str, sandbox: &str, domain: &str) -> String {
    format!("{sandbox}.{tenant}.{domain}")
}

/// A job of tenant `acme`'s sandbox `s1`, in account [`sbx_fakes::ACCOUNT`] unless `account` is
/// `None`: what the handlers' unit tests run.
#[cfg(test)]
pub(crate) fn test_job(operation: &str, account: Option<&str>) -> Job {
    let mut value = serde_json::json!({
        "tenant": "acme", "sandbox_id": "s1", "operation": operation, "version": 2,
        "execution": "arn:exec:1", "token": format!("s1-{operation}-v2"),
    });
    if let Some(account) = account {
        value["account_id"] = account.into();
    }
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
}
