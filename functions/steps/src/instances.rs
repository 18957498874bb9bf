//! `launch-instances`, `start-instances`, `stop-instances`, `terminate-instances` and
//! `check-instances`: the sandbox's ACP and OCP VMs, found by their tags.

use crate::config::SandboxImages;
use crate::error::StepError;
use crate::job::Job;
use crate::network::NetworkOutput;
use sbx_aws::Vms;
use sbx_aws::instances::{InstanceState, Launch, Vm};
use serde::{Deserialize, Serialize};

pub use sbx_lifecycle::cost::{ROLES, instance_type};

#[derive(Debug, Clone, Deserialize)]
pub struct LaunchInput {
    pub job: Job,
    pub network: NetworkOutput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchOutput {
    pub acp: String,
    pub ocp: String,
}

pub async fn launch(
    vms: &impl Vms,
    images: &SandboxImages,
    input: LaunchInput,
) -> Result<LaunchOutput, StepError> {
    let job = &input.job;
    let account = job.account()?;
    let owner = job.sandbox_owner();
    let mut ids = Vec::new();
    for (role, image) in ROLES.iter().zip([&images.acp, &images.ocp]) {
        let launched = vms
            .launch(
                account,
                &Launch {
                    owner: &owner,
                    role,
                    image_id: image,
                    instance_type: instance_type(job.options.instance_size, role),
                    subnet_id: &input.network.subnet_id,
                    security_group_id: &input.network.security_group_id,
                    instance_profile: Some(sbx_aws::instances::INSTANCE_PROFILE),
                    client_token: &job.client_token(role),
                },
            )
            .await;
        match launched {
            Ok(id) => ids.push(id),
            // A permanent refusal (a quota, say) after the first launch: the failure branch
            // gets no ids from this step, and a describe may not show the first instance yet,
            // so it is ended here. (A retry relaunches nothing: the tokens answer the same ids.)
            Err(err) if !err.is_transient() && !ids.is_empty() => {
                vms.terminate_launched(account, &ids).await?;
                return Err(err.into());
            }
            Err(err) => return Err(err.into()),
        }
    }
    let [acp, ocp] =
        <[String; 2]>::try_from(ids).map_err(|_| StepError::Failed("launch lost an instance".into()))?;
    Ok(LaunchOutput { acp, ocp })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstancesOutput {
    pub instances: Vec<String>,
}

/// The sandbox's account and its instances there; none before an account is allocated.
async fn sandbox_vms<'j>(vms: &impl Vms, job: &'j Job) -> Result<(Option<&'j str>, Vec<Vm>), StepError> {
    let Some(account) = job.account_id.as_deref() else {
        return Ok((None, Vec::new()));
    };
    let found = vms.find(account, &job.sandbox_owner()).await?;
    Ok((Some(account), found))
}

fn ids<'a>(vms: impl IntoIterator<Item = &'a Vm>) -> Vec<String> {
    vms.into_iter().map(|vm| vm.id.clone()).collect()
}

fn is_up(vm: &Vm) -> bool {
    matches!(vm.state, InstanceState::Running | InstanceState::Pending)
}

pub async fn start(vms: &impl Vms, job: Job) -> Result<InstancesOutput, StepError> {
    let (account, found) = sandbox_vms(vms, &job).await?;
    let Some(account) = account.filter(|_| found.len() >= ROLES.len()) else {
        return Err(StepError::Failed(format!(
            "sandbox {} has {} of its {} instances; it cannot be started",
            job.sandbox_id,
            found.len(),
            ROLES.len()
        )));
    };
    let down = ids(found.iter().filter(|vm| !is_up(vm)));
    if !down.is_empty() {
        vms.start(account, &down).await?;
    }
    Ok(InstancesOutput {
        instances: ids(&found),
    })
}

pub async fn stop(vms: &impl Vms, job: Job) -> Result<InstancesOutput, StepError> {
    let (account, found) = sandbox_vms(vms, &job).await?;
    let up = ids(found.iter().filter(|vm| is_up(vm)));
    if let Some(account) = account.filter(|_| !up.is_empty()) {
        vms.stop(account, &up).await?;
    }
    Ok(InstancesOutput {
        instances: ids(&found),
    })
}

/// What `terminate-instances` is given: a delete's job, or the create's whole state in its
/// failure branch, with what the launch returned if it ran.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TerminateInput {
    Compensation {
        job: Job,
        #[serde(default)]
        instances: Option<Launched>,
    },
    Job(Job),
}

/// The ids a launch returned (`LaunchOutput`); any other shape names none.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Launched {
    #[serde(default)]
    pub acp: Option<String>,
    #[serde(default)]
    pub ocp: Option<String>,
}

/// Terminates the sandbox's instances: those a describe shows, and those the launch returned
/// that it does not show yet (AWS's visibility window), so that a create failing right after
/// its launch leaves nothing running.
pub async fn terminate(vms: &impl Vms, input: TerminateInput) -> Result<InstancesOutput, StepError> {
    let (job, launched) = match input {
        TerminateInput::Compensation { job, instances } => {
            let launched = instances.unwrap_or_default();
            (
                job,
                [launched.acp, launched.ocp]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>(),
            )
        }
        TerminateInput::Job(job) => (job, Vec::new()),
    };
    let (account, found) = sandbox_vms(vms, &job).await?;
    let mut terminated = ids(&found);
    let unseen: Vec<String> = launched
        .into_iter()
        .filter(|id| !terminated.contains(id))
        .collect();
    if let Some(account) = account {
        if !terminated.is_empty() {
            vms.terminate(account, &terminated).await?;
        }
        if !unseen.is_empty() {
            vms.terminate_launched(account, &unseen).await?;
        }
    }
    terminated.extend(unseen);
    Ok(InstancesOutput {
        instances: terminated,
    })
}

/// The state the sandbox's instances should reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Running,
    Stopped,
    Terminated,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckInput {
    pub job: Job,
    pub want: Target,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutput {
    pub ready: bool,
    pub states: Vec<String>,
}

pub async fn check(vms: &impl Vms, input: CheckInput) -> Result<CheckOutput, StepError> {
    let vms = match (input.want, input.job.account_id.as_deref()) {
        // Terminated means gone: one still shutting down holds the sandbox's network.
        (Target::Terminated, Some(account)) => vms.remaining(account, &input.job.sandbox_owner()).await?,
        _ => sandbox_vms(vms, &input.job).await?.1,
    };
    let states: Vec<String> = vms.iter().map(|vm| format!("{}={}", vm.role, vm.state)).collect();
    let ready = match input.want {
        Target::Terminated => vms.is_empty(),
        Target::Running => {
            vms.len() >= ROLES.len() && vms.iter().all(|vm| vm.state == InstanceState::Running)
        }
        Target::Stopped => vms.iter().all(|vm| vm.state == InstanceState::Stopped),
    };
    if input.want == Target::Running
        && vms.iter().any(|vm| vm.state == InstanceState::Stopped)
        && input.job.operation == sbx_lifecycle::Operation::Create
    {
        return Err(StepError::Failed(format!(
            "an instance of sandbox {} stopped while it was launched: {}",
            input.job.sandbox_id,
            states.join(", ")
        )));
    }
    Ok(CheckOutput { ready, states })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::test_job as job;
    use sbx_fakes::{ACCOUNT, FakeAws};

    fn images() -> SandboxImages {
        SandboxImages {
            acp: "ami-acp".into(),
            ocp: "ami-ocp".into(),
        }
    }

    fn launch_input(account: Option<&str>) -> LaunchInput {
        LaunchInput {
            job: job("create", account),
            network: NetworkOutput {
                subnet_id: "subnet-1".into(),
                security_group_id: "sg-1".into(),
            },
        }
    }

    fn check_input(operation: &str, want: Target) -> CheckInput {
        CheckInput {
            job: job(operation, Some(ACCOUNT)),
            want,
        }
    }

    #[tokio::test]
    async fn launching_twice_launches_each_role_once_from_its_image() {
        let aws = FakeAws::default();
        let first = launch(&aws, &images(), launch_input(Some(ACCOUNT))).await;
        let again = launch(&aws, &images(), launch_input(Some(ACCOUNT))).await;
        assert!(first.is_ok(), "{first:?}");
        assert_eq!(first.ok(), again.ok());
        assert_eq!(
            aws.state().changes,
            ["RunInstances acp ami-acp", "RunInstances ocp ami-ocp"]
        );
        let no_account = launch(&aws, &images(), launch_input(None)).await;
        assert!(
            matches!(no_account, Err(StepError::InvalidInput(_))),
            "{no_account:?}"
        );
    }

    #[tokio::test]
    async fn starting_starts_only_what_is_down_and_refuses_a_missing_instance() {
        let aws = FakeAws::default();
        let owner = job("start", Some(ACCOUNT)).sandbox_owner();
        let acp = aws.add_vm(ACCOUNT, &owner, "acp", InstanceState::Stopped);
        let missing = start(&aws, job("start", Some(ACCOUNT))).await;
        assert!(
            matches!(&missing, Err(StepError::Failed(m)) if m.contains("1 of its 2")),
            "{missing:?}"
        );
        aws.add_vm(ACCOUNT, &owner, "ocp", InstanceState::Running);
        let out = start(&aws, job("start", Some(ACCOUNT))).await;
        assert_eq!(out.map(|o| o.instances.len()).ok(), Some(2));
        assert_eq!(aws.state().changes, [format!("StartInstances {acp}")]);
        // Both are up now: a re-run starts nothing.
        assert!(start(&aws, job("start", Some(ACCOUNT))).await.is_ok());
        assert_eq!(aws.state().changes.len(), 1);
    }

    #[tokio::test]
    async fn stopping_and_terminating_what_is_gone_is_ok_and_calls_nothing() {
        let aws = FakeAws::default();
        for out in [
            stop(&aws, job("stop", Some(ACCOUNT))).await,
            terminate(&aws, TerminateInput::Job(job("delete", Some(ACCOUNT)))).await,
            terminate(&aws, TerminateInput::Job(job("delete", None))).await,
        ] {
            assert_eq!(out.ok(), Some(InstancesOutput { instances: vec![] }));
        }
        assert!(aws.state().changes.is_empty());
        let owner = job("stop", Some(ACCOUNT)).sandbox_owner();
        let up = aws.add_vm(ACCOUNT, &owner, "acp", InstanceState::Running);
        aws.add_vm(ACCOUNT, &owner, "ocp", InstanceState::Stopped);
        assert!(stop(&aws, job("stop", Some(ACCOUNT))).await.is_ok());
        assert_eq!(aws.state().changes, [format!("StopInstances {up}")]);
        assert!(
            terminate(&aws, TerminateInput::Job(job("delete", Some(ACCOUNT))))
                .await
                .is_ok()
        );
        assert!(
            terminate(&aws, TerminateInput::Job(job("delete", Some(ACCOUNT))))
                .await
                .is_ok()
        );
        assert_eq!(aws.state().changes.len(), 2, "{:?}", aws.state().changes);
    }

    #[tokio::test]
    async fn a_failed_create_terminates_what_its_launch_returned_though_no_describe_shows_it() {
        let aws = FakeAws::default();
        let create = job("create", Some(ACCOUNT));
        let owner = create.sandbox_owner();
        let acp = aws.add_vm(ACCOUNT, &owner, "acp", InstanceState::Pending);
        let ocp = aws.add_vm(ACCOUNT, &owner, "ocp", InstanceState::Pending);
        // Launched a moment ago: a describe by tag does not show the OCP yet.
        aws.state().unseen.insert(ocp.clone());
        let input: TerminateInput = serde_json::from_value(serde_json::json!({
            "job": serde_json::to_value(&create).unwrap_or_default(),
            "network": {"subnet_id": "subnet-1"},
            "instances": {"acp": acp, "ocp": ocp},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let out = terminate(&aws, input).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.instances, [acp.clone(), ocp.clone()]);
        assert_eq!(
            aws.state().changes,
            [
                format!("TerminateInstances {acp}"),
                format!("TerminateInstances {ocp}")
            ]
        );
        // Before any launch, the state has no instances: only what a describe shows is ended.
        let input: TerminateInput = serde_json::from_value(serde_json::json!({
            "job": serde_json::to_value(&create).unwrap_or_default(),
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(terminate(&aws, input).await.is_ok());
    }

    #[tokio::test]
    async fn checking_tells_ready_and_fails_a_create_whose_instance_stopped() {
        let aws = FakeAws::default();
        let terminated = check(&aws, check_input("delete", Target::Terminated)).await;
        assert_eq!(
            terminated.map(|o| o.ready).ok(),
            Some(true),
            "none left is terminated"
        );
        let owner = job("create", Some(ACCOUNT)).sandbox_owner();
        aws.add_vm(ACCOUNT, &owner, "acp", InstanceState::Running);
        let one = check(&aws, check_input("create", Target::Running)).await;
        assert_eq!(one.map(|o| o.ready).ok(), Some(false), "one of two is not ready");
        aws.add_vm(ACCOUNT, &owner, "ocp", InstanceState::Running);
        let both = check(&aws, check_input("create", Target::Running)).await;
        assert_eq!(
            both.ok(),
            Some(CheckOutput {
                ready: true,
                states: vec!["acp=running".into(), "ocp=running".into()]
            })
        );
        aws.add_vm(ACCOUNT, &owner, "acp", InstanceState::Stopped);
        let stopped = check(&aws, check_input("create", Target::Running)).await;
        assert!(matches!(stopped, Err(StepError::Failed(_))), "{stopped:?}");
        let starting = check(&aws, check_input("start", Target::Running)).await;
        assert_eq!(
            starting.map(|o| o.ready).ok(),
            Some(false),
            "a start waits instead"
        );
    }
}
