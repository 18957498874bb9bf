//! `launch-instances`, `start-instances`, `stop-instances`, `terminate-instances` and
//! `check-instances`: the sandbox's ACP and OCP VMs, found by their tags.

use crate::context::Steps;
use crate::error::StepError;
use crate::job::Job;
use crate::network::NetworkOutput;
use sbx_aws::AccountClients;
use sbx_aws::instances::{self, Launch, Vm};
use sbx_lifecycle::InstanceSize;
use serde::{Deserialize, Serialize};

pub const ROLES: [&str; 2] = ["acp", "ocp"];

/// The instance type of each role for a size.
pub fn instance_type(size: InstanceSize, role: &str) -> &'static str {
    match (size, role) {
        (InstanceSize::Small, _) => "t3.medium",
        (InstanceSize::Medium, "acp") => "m5.xlarge",
        (InstanceSize::Medium, _) => "m5.large",
        (InstanceSize::Large, "acp") => "m5.2xlarge",
        (InstanceSize::Large, _) => "m5.xlarge",
    }
}

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

pub async fn launch(steps: &Steps, input: LaunchInput) -> Result<LaunchOutput, StepError> {
    let job = &input.job;
    let clients = steps.account(job.account()?).await;
    let owner = job.sandbox_owner();
    let images = &steps.settings.images;
    let mut ids = Vec::new();
    for (role, image) in ROLES.iter().zip([&images.acp, &images.ocp]) {
        let id = instances::ensure(
            &clients.ec2,
            &Launch {
                owner: &owner,
                role,
                image_id: image,
                instance_type: instance_type(job.options.instance_size, role),
                subnet_id: &input.network.subnet_id,
                security_group_id: &input.network.security_group_id,
                client_token: &job.client_token(role),
            },
        )
        .await?;
        ids.push(id);
    }
    let [acp, ocp] =
        <[String; 2]>::try_from(ids).map_err(|_| StepError::Failed("launch lost an instance".into()))?;
    Ok(LaunchOutput { acp, ocp })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstancesOutput {
    pub instances: Vec<String>,
}

/// The sandbox's instances, with the clients of its account they were read through; none
/// before an account is allocated.
async fn sandbox_vms(steps: &Steps, job: &Job) -> Result<(Option<AccountClients>, Vec<Vm>), StepError> {
    let Some(account) = job.account_id.as_deref() else {
        return Ok((None, Vec::new()));
    };
    let clients = steps.account(account).await;
    let vms = instances::find(&clients.ec2, &job.sandbox_owner()).await?;
    Ok((Some(clients), vms))
}

fn ids<'a>(vms: impl IntoIterator<Item = &'a Vm>) -> Vec<String> {
    vms.into_iter().map(|vm| vm.id.clone()).collect()
}

fn is_up(vm: &Vm) -> bool {
    vm.state == "running" || vm.state == "pending"
}

pub async fn start(steps: &Steps, job: Job) -> Result<InstancesOutput, StepError> {
    let (clients, vms) = sandbox_vms(steps, &job).await?;
    let Some(clients) = clients.filter(|_| vms.len() >= ROLES.len()) else {
        return Err(StepError::Failed(format!(
            "sandbox {} has {} of its {} instances; it cannot be started",
            job.sandbox_id,
            vms.len(),
            ROLES.len()
        )));
    };
    instances::start(&clients.ec2, &ids(vms.iter().filter(|vm| !is_up(vm)))).await?;
    Ok(InstancesOutput { instances: ids(&vms) })
}

pub async fn stop(steps: &Steps, job: Job) -> Result<InstancesOutput, StepError> {
    let (clients, vms) = sandbox_vms(steps, &job).await?;
    if let Some(clients) = clients {
        instances::stop(&clients.ec2, &ids(vms.iter().filter(|vm| is_up(vm)))).await?;
    }
    Ok(InstancesOutput { instances: ids(&vms) })
}

pub async fn terminate(steps: &Steps, job: Job) -> Result<InstancesOutput, StepError> {
    let (clients, vms) = sandbox_vms(steps, &job).await?;
    if let Some(clients) = clients {
        instances::terminate(&clients.ec2, &ids(&vms)).await?;
    }
    Ok(InstancesOutput { instances: ids(&vms) })
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

pub async fn check(steps: &Steps, input: CheckInput) -> Result<CheckOutput, StepError> {
    let (_, vms) = sandbox_vms(steps, &input.job).await?;
    let states: Vec<String> = vms.iter().map(|vm| format!("{}={}", vm.role, vm.state)).collect();
    let ready = match input.want {
        Target::Terminated => vms.is_empty(),
        Target::Running => vms.len() >= ROLES.len() && vms.iter().all(|vm| vm.state == "running"),
        Target::Stopped => vms.iter().all(|vm| vm.state == "stopped"),
    };
    if input.want == Target::Running
        && vms.iter().any(|vm| vm.state == "stopped")
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
