//! `create-network` and `delete-network`: the sandbox's own subnet and security group.

use crate::context::Steps;
use crate::error::StepError;
use crate::job::Job;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkOutput {
    pub subnet_id: String,
    pub security_group_id: String,
}

pub async fn create(steps: &Steps, job: Job) -> Result<NetworkOutput, StepError> {
    let account = job.account()?;
    let clients = steps.account(account).await;
    let account_network = sbx_aws::network::account_network(&clients.ec2, &job.account_owner(account))
        .await?
        .ok_or_else(|| {
            StepError::Failed(format!(
                "account {account} has no network: ensure its infrastructure first"
            ))
        })?;
    let created = sbx_aws::network::create_sandbox_network(
        &clients.ec2,
        &job.sandbox_owner(),
        &account_network,
        (&job.tenant, &job.sandbox_id),
    )
    .await?;
    Ok(NetworkOutput {
        subnet_id: created.subnet_id,
        security_group_id: created.security_group_id,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    pub deleted: bool,
}

pub async fn delete(steps: &Steps, job: Job) -> Result<Deleted, StepError> {
    let Some(account) = job.account_id.as_deref() else {
        return Ok(Deleted { deleted: false });
    };
    let clients = steps.account(account).await;
    sbx_aws::network::delete_sandbox_network(&clients.ec2, &job.sandbox_owner()).await?;
    Ok(Deleted { deleted: true })
}
