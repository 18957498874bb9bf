//! `install-constellations` and `check-constellations`: the sandbox's packages, installed on
//! its OCP VM with SSM Run Command.

use crate::error::StepError;
use crate::job::Job;
use sbx_aws::commands::Progress;
use sbx_aws::{Commands, Vms};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallOutput {
    /// `None` when there is nothing to install.
    pub command_id: Option<String>,
    pub instance_id: Option<String>,
}

/// Sends the install command to the sandbox's OCP VM; `aws` finds the VM and runs commands.
pub async fn install(aws: &(impl Vms + Commands), job: Job) -> Result<InstallOutput, StepError> {
    if job.options.constellations.is_empty() {
        return Ok(InstallOutput {
            command_id: None,
            instance_id: None,
        });
    }
    let account = job.account()?;
    let ocp = aws
        .find(account, &job.sandbox_owner())
        .await?
        .into_iter()
        .find(|vm| vm.role == "ocp")
        .ok_or_else(|| StepError::Failed(format!("sandbox {} has no OCP instance", job.sandbox_id)))?;
    let command_id = aws
        .install(account, &ocp.id, &job.sandbox_id, &job.options.constellations)
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

pub async fn check(commands: &impl Commands, input: CheckInput) -> Result<CheckOutput, StepError> {
    let (Some(command_id), Some(instance_id), Some(account)) = (
        input.install.command_id.as_deref(),
        input.install.instance_id.as_deref(),
        input.job.account_id.as_deref(),
    ) else {
        return Ok(CheckOutput { done: true });
    };
    match commands.progress(account, command_id, instance_id).await? {
        Progress::Running => Ok(CheckOutput { done: false }),
        Progress::Succeeded => Ok(CheckOutput { done: true }),
        Progress::Failed(why) => Err(StepError::InstallFailed(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::test_job as job;
    use sbx_aws::instances::InstanceState;
    use sbx_fakes::{ACCOUNT, FakeAws};

    fn with_constellations() -> Job {
        let mut job = job("create", Some(ACCOUNT));
        job.options.constellations = vec!["payments".into(), "cards".into()];
        job
    }

    #[tokio::test]
    async fn nothing_to_install_sends_nothing_and_is_done() {
        let aws = FakeAws::default();
        let out = install(&aws, job("create", Some(ACCOUNT))).await;
        let nothing = InstallOutput {
            command_id: None,
            instance_id: None,
        };
        assert_eq!(out.ok(), Some(nothing.clone()));
        let checked = check(
            &aws,
            CheckInput {
                job: job("create", Some(ACCOUNT)),
                install: nothing,
            },
        )
        .await;
        assert_eq!(checked.ok(), Some(CheckOutput { done: true }));
        assert!(aws.state().changes.is_empty());
    }

    #[tokio::test]
    async fn installing_goes_to_the_ocp_and_is_watched_until_it_ends() {
        let aws = FakeAws::default();
        let missing = install(&aws, with_constellations()).await;
        assert!(
            matches!(&missing, Err(StepError::Failed(m)) if m.contains("no OCP")),
            "{missing:?}"
        );
        let ocp = aws.add_vm(
            ACCOUNT,
            &with_constellations().sandbox_owner(),
            "ocp",
            InstanceState::Running,
        );
        let sent = install(&aws, with_constellations())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sent.instance_id.as_deref(), Some(ocp.as_str()));
        assert_eq!(aws.state().changes, [format!("SendCommand {ocp} payments cards")]);
        let input = || CheckInput {
            job: with_constellations(),
            install: sent.clone(),
        };
        assert_eq!(check(&aws, input()).await.ok(), Some(CheckOutput { done: false }));
        let id = sent.command_id.clone().unwrap_or_default();
        let set = |progress: Progress| {
            if let Some(command) = aws.state().commands.get_mut(&id) {
                command.2 = progress;
            }
        };
        set(Progress::Failed("exit 3".into()));
        let failed = check(&aws, input()).await;
        assert!(
            matches!(&failed, Err(StepError::InstallFailed(why)) if why == "exit 3"),
            "{failed:?}"
        );
        set(Progress::Succeeded);
        assert_eq!(check(&aws, input()).await.ok(), Some(CheckOutput { done: true }));
    }
}
