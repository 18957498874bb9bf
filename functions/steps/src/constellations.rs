//! `install-constellations` and `check-constellations`: the sandbox's packages, installed on
//! its OCP VM with SSM Run Command.

use crate::context::Steps;
use crate::error::StepError;
use crate::job::Job;
use sbx_aws::commands::{self, Progress};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallOutput {
    /// `None` when there is nothing to install.
    pub command_id: Option<String>,
    pub instance_id: Option<String>,
}

pub async fn install(steps: &Steps, job: Job) -> Result<InstallOutput, StepError> {
    if job.options.constellations.is_empty() {
        return Ok(InstallOutput {
            command_id: None,
            instance_id: None,
        });
    }
    let account = job.account()?;
    let clients = steps.account(account).await;
    let ocp = sbx_aws::instances::find(&clients.ec2, &job.sandbox_owner())
        .await?
        .into_iter()
        .find(|vm| vm.role == "ocp")
        .ok_or_else(|| StepError::Failed(format!("sandbox {} has no OCP instance", job.sandbox_id)))?;
    let command_id = commands::install(
        &clients.ssm,
        &ocp.id,
        &job.sandbox_id,
        &job.options.constellations,
    )
    .await?;
    Ok(InstallOutput {
        command_id: Some(command_id),
        instance_id: Some(ocp.id),
    })
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckInput {
    pub job: Job,
    pub install: InstallOutput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutput {
    pub done: bool,
}

pub async fn check(steps: &Steps, input: CheckInput) -> Result<CheckOutput, StepError> {
    let (Some(command_id), Some(instance_id), Some(account)) = (
        input.install.command_id.as_deref(),
        input.install.instance_id.as_deref(),
        input.job.account_id.as_deref(),
    ) else {
        return Ok(CheckOutput { done: true });
    };
    let clients = steps.account(account).await;
    match commands::progress(&clients.ssm, command_id, instance_id).await? {
        Progress::Running => Ok(CheckOutput { done: false }),
        Progress::Succeeded => Ok(CheckOutput { done: true }),
        Progress::Failed(why) => Err(StepError::InstallFailed(why)),
    }
}
