//! The template's roles in the local AWS: each created with its trust policy and its inline
//! policies (through the AWS layer, so that the enforcer learns them), and each function given
//! an SDK configuration whose credentials come from assuming its role, refreshed as they expire,
//! as a deployed Lambda gets its execution role's.

use super::template::Roles;
use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("{call} of {role}: {message}")]
    Call {
        call: &'static str,
        role: String,
        message: String,
    },
    #[error("no role in the template for {0}")]
    NoRole(String),
    #[error("the role {role} could not be assumed within {waited:?}: {message}")]
    NotAssumable {
        role: String,
        waited: Duration,
        message: String,
    },
}

/// Creates every role of `roles` in the account of `config` (the management account); a role
/// that is there already is kept, and its policies are put again.
pub async fn create(config: &SdkConfig, roles: &Roles) -> Result<(), RoleError> {
    let iam = sbx_transient::client!(aws_sdk_iam, config);
    for role in &roles.roles {
        let failed = |call: &'static str, message: String| RoleError::Call {
            call,
            role: role.name.clone(),
            message,
        };
        let created = iam
            .create_role()
            .role_name(&role.name)
            .assume_role_policy_document(role.trust.to_string())
            .description("sbx (infra/template.yaml), made by the local stack")
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_entity_already_exists_exception()) => {}
            Err(err) => {
                return Err(failed(
                    "CreateRole",
                    aws_sdk_iam::error::DisplayErrorContext(err).to_string(),
                ));
            }
        }
        for (name, document) in &role.policies {
            iam.put_role_policy()
                .role_name(&role.name)
                .policy_name(name)
                .policy_document(document.to_string())
                .send()
                .await
                .map_err(|e| {
                    failed(
                        "PutRolePolicy",
                        aws_sdk_iam::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
        }
    }
    Ok(())
}

/// `config` with the credentials of `function`'s role, assumed in `account` under the session
/// name of the function.
pub async fn config_for(
    config: &SdkConfig,
    roles: &Roles,
    account: &str,
    function: &str,
) -> Result<SdkConfig, RoleError> {
    let role = roles
        .functions
        .get(function)
        .ok_or_else(|| RoleError::NoRole(function.to_owned()))?;
    Ok(assuming(config, &format!("arn:aws:iam::{account}:role/{role}"), function).await)
}

/// `config` with the credentials of `role_arn`, assumed as `session`.
pub async fn assuming(config: &SdkConfig, role_arn: &str, session: &str) -> SdkConfig {
    let provider = AssumeRoleProvider::builder(role_arn)
        .session_name(session)
        .configure(config)
        .build()
        .await;
    config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// Waits until `config`'s credentials can be had: a new role can be refused for a moment
/// (IAM's propagation, which the realistic mode shows).
pub async fn ready(config: &SdkConfig, role: &str, within: Duration) -> Result<(), RoleError> {
    let Some(provider) = config.credentials_provider() else {
        return Ok(());
    };
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match provider.provide_credentials().await {
            Ok(_) => return Ok(()),
            Err(err) if tokio::time::Instant::now() >= deadline => {
                return Err(RoleError::NotAssumable {
                    role: role.to_owned(),
                    waited: within,
                    message: aws_sdk_iam::error::DisplayErrorContext(err).to_string(),
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
