//! AWS Organizations: new accounts for the pool (CreateAccount), each account in the
//! organizational unit of its state (MoveAccount), and the provisioning role put into a new
//! account through the role Organizations creates there ([`bootstrap`]).

use crate::account::Provisioner;
use crate::error::{AwsError, sdk};
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::CreateAccountState;

/// The role AWS Organizations creates in a member account for the management account.
pub const BOOTSTRAP_ROLE: &str = "OrganizationAccountAccessRole";
/// The customer-account template whose policy the provisioning role gets.
/// `infra/provisioning-role.yaml`.
pub const PROVISIONING_TEMPLATE: &str = include_str!("../../../infra/provisioning-role.yaml");

/// The organizational units accounts move between, by the state they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Units {
    pub pool: String,
    pub customers: String,
    pub expired: String,
    pub quarantine: String,
}

/// An organization that sbx may create accounts in and move them between [`Units`].
#[derive(Debug, Clone)]
pub struct Organization {
    pub client: Client,
    pub units: Units,
    /// New accounts get `sbx-pool-<n>@<email_domain>`.
    pub email_domain: String,
}

/// An account creation the organization knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    pub request_id: String,
    pub email_name: String,
    pub state: CreationState,
    /// When it succeeded or failed.
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreationState {
    InProgress,
    Succeeded { account_id: String },
    Failed { reason: String },
}

impl Organization {
    /// Asks for a new account named `name`; returns the creation request's id.
    pub async fn create_account(&self, name: &str) -> Result<String, AwsError> {
        let created = self
            .client
            .create_account()
            .account_name(name)
            .email(format!("{name}@{}", self.email_domain))
            .role_name(BOOTSTRAP_ROLE)
            .send()
            .await
            .map_err(sdk("CreateAccount"))?;
        created
            .create_account_status()
            .and_then(|s| s.id())
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Missing("CreateAccount returned no request id".into()))
    }

    /// Every account creation of the organization, in progress, done or failed.
    pub async fn creations(&self) -> Result<Vec<Creation>, AwsError> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_create_account_status()
                .set_next_token(token)
                .send()
                .await
                .map_err(sdk("ListCreateAccountStatus"))?;
            for status in page.create_account_statuses() {
                let state = match status.state() {
                    Some(CreateAccountState::Succeeded) => match status.account_id() {
                        Some(id) => CreationState::Succeeded {
                            account_id: id.to_owned(),
                        },
                        None => CreationState::InProgress,
                    },
                    Some(CreateAccountState::Failed) => CreationState::Failed {
                        reason: status
                            .failure_reason()
                            .map(|r| r.as_str().to_owned())
                            .unwrap_or_else(|| "unknown".into()),
                    },
                    _ => CreationState::InProgress,
                };
                found.push(Creation {
                    request_id: status.id().unwrap_or_default().to_owned(),
                    email_name: status.account_name().unwrap_or_default().to_owned(),
                    state,
                    completed_at: status
                        .completed_timestamp()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                });
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// Moves the account into `unit` unless it is there; returns whether it moved.
    pub async fn place(&self, account_id: &str, unit: &str) -> Result<bool, AwsError> {
        let parents = self
            .client
            .list_parents()
            .child_id(account_id)
            .send()
            .await
            .map_err(sdk("ListParents"))?;
        let Some(parent) = parents.parents().first().and_then(|p| p.id()) else {
            return Err(AwsError::Missing(format!(
                "account {account_id} has no parent in the organization"
            )));
        };
        if parent == unit {
            return Ok(false);
        }
        let moved = self
            .client
            .move_account()
            .account_id(account_id)
            .source_parent_id(parent)
            .destination_parent_id(unit)
            .send()
            .await
            .map_err(sdk("MoveAccount"));
        match moved {
            Ok(_) => Ok(true),
            // A concurrent sweep moved it first.
            Err(err) if err.has_code(&["DuplicateAccountException"]) => Ok(false),
            Err(err) => Err(err),
        }
    }
}

/// The provisioning role's permissions, as `infra/provisioning-role.yaml` declares them.
pub fn provisioning_policy() -> Result<String, AwsError> {
    let invalid = |message: String| AwsError::Missing(format!("infra/provisioning-role.yaml: {message}"));
    let template: serde_yaml::Value =
        serde_yaml::from_str(PROVISIONING_TEMPLATE).map_err(|e| invalid(e.to_string()))?;
    let document = &template["Resources"]["ProvisioningRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    if document.is_null() {
        return Err(invalid("no policy document".into()));
    }
    let json: serde_json::Value =
        serde_yaml::from_value(document.clone()).map_err(|e| invalid(e.to_string()))?;
    Ok(json.to_string())
}

/// Puts the provisioning role `role_name` into `account_id`, trusting `management_account`,
/// through the account's [`BOOTSTRAP_ROLE`]; a role that is there is left as it is, and its
/// policy is put again (a bootstrap that died between the two calls is completed). Then the
/// sandbox VMs' instance profile ([`sandbox_instance_profile`]).
pub async fn bootstrap(
    bootstrap: &Provisioner,
    account_id: &str,
    role_name: &str,
    management_account: &str,
) -> Result<(), AwsError> {
    let member = bootstrap.open(account_id).await.config;
    let iam = sbx_transient::client!(aws_sdk_iam, &member);
    let existing = iam
        .get_role()
        .role_name(role_name)
        .send()
        .await
        .map_err(sdk("GetRole"));
    match existing {
        Ok(_) => {}
        Err(err) if err.has_code(&["NoSuchEntity"]) => {
            let trust = serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": format!("arn:aws:iam::{management_account}:root")},
                    "Action": "sts:AssumeRole"
                }]
            });
            let created = iam
                .create_role()
                .role_name(role_name)
                .assume_role_policy_document(trust.to_string())
                .description("sbx provisioning role (infra/provisioning-role.yaml)")
                .send()
                .await
                .map_err(sdk("CreateRole"));
            match created {
                Ok(_) => {}
                Err(err) if err.has_code(&["EntityAlreadyExists"]) => {}
                Err(err) => return Err(err),
            }
        }
        Err(err) => return Err(err),
    }
    iam.put_role_policy()
        .role_name(role_name)
        .policy_name("sbx-lifecycle")
        .policy_document(provisioning_policy()?)
        .send()
        .await
        .map_err(sdk("PutRolePolicy"))?;
    sandbox_instance_profile(&iam).await
}

/// The AWS managed policy that lets the SSM agent register and run commands.
pub const SSM_MANAGED_POLICY: &str = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

/// The sandbox VMs' role and instance profile ([`crate::instances::INSTANCE_PROFILE`]), as
/// `infra/provisioning-role.yaml` declares them: a role EC2 may assume, with the SSM managed
/// policy, in a profile of the same name. Each part is made unless it is there, so a bootstrap
/// that died half-way is completed.
async fn sandbox_instance_profile(iam: &aws_sdk_iam::Client) -> Result<(), AwsError> {
    let name = crate::instances::INSTANCE_PROFILE;
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    });
    let created = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .description("sbx sandbox VMs: the SSM agent (infra/provisioning-role.yaml)")
        .send()
        .await
        .map_err(sdk("CreateRole"));
    crate::error::gone(created, &["EntityAlreadyExists"])?;
    iam.attach_role_policy()
        .role_name(name)
        .policy_arn(SSM_MANAGED_POLICY)
        .send()
        .await
        .map_err(sdk("AttachRolePolicy"))?;
    let profile = iam
        .create_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(sdk("CreateInstanceProfile"));
    crate::error::gone(profile, &["EntityAlreadyExists"])?;
    let roles = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(sdk("GetInstanceProfile"))?;
    let has_role = roles
        .instance_profile()
        .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == name));
    if !has_role {
        let added = iam
            .add_role_to_instance_profile()
            .instance_profile_name(name)
            .role_name(name)
            .send()
            .await
            .map_err(sdk("AddRoleToInstanceProfile"));
        // A profile holds one role: a concurrent bootstrap added it.
        crate::error::gone(added, &["LimitExceeded"])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_provisioning_policy_comes_from_the_customer_account_template() {
        let policy = super::provisioning_policy().unwrap_or_else(|e| panic!("{e}"));
        let policy: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
        let actions: Vec<&str> = policy["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["Action"].as_array().into_iter().flatten())
            .filter_map(|a| a.as_str())
            .collect();
        assert!(actions.contains(&"ec2:RunInstances"));
        assert!(actions.contains(&"ssm:SendCommand"));
        assert!(
            actions.contains(&"tag:GetResources"),
            "the inventory reads every tag"
        );
        assert!(actions.contains(&"ec2:ReplaceRoute") && actions.contains(&"ec2:DeleteRoute"));
        let iam: Vec<&serde_json::Value> = policy["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["Action"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a.as_str().is_some_and(|a| a.starts_with("iam:")))
            })
            .collect();
        assert_eq!(iam.len(), 1, "one IAM statement: {iam:?}");
        assert_eq!(iam[0]["Action"], serde_json::json!(["iam:PassRole"]));
        assert_eq!(
            iam[0]["Resource"],
            format!("arn:*:iam::*:role/{}", crate::instances::INSTANCE_PROFILE),
            "the role can pass the sandbox VMs' role and touch nothing else of IAM"
        );
    }
}
