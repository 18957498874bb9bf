//! Virtual machines: launched once per role (found by tag before launching, and launched with a
//! client token), started, stopped, terminated, and watched.

use crate::error::{AwsError, sdk, sdk_not_yet};
use crate::tags::{self, Owner};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{InstanceType, ResourceType};

/// What to launch.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    pub owner: &'a Owner,
    /// The tag `sbx:role`: `acp`, `ocp`, `proxy-0`, ...
    pub role: &'a str,
    pub image_id: &'a str,
    pub instance_type: &'a str,
    pub subnet_id: &'a str,
    pub security_group_id: &'a str,
    /// The instance profile to launch with: the sandbox VMs' [`INSTANCE_PROFILE`], whose role
    /// lets the SSM agent register (without it no command reaches the VM). Proxies need none.
    pub instance_profile: Option<&'a str>,
    /// Unique per launch attempt of one execution; AWS returns the same instance for a repeat.
    pub client_token: &'a str,
}

/// The instance profile of the sandbox VMs, with the role `INSTANCE_PROFILE` too; the
/// provisioning bootstrap puts both in every customer account
/// ([`crate::organizations::bootstrap`], `infra/provisioning-role.yaml`).
pub const INSTANCE_PROFILE: &str = "sbx-sandbox-instance";

/// One instance as the steps see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    pub id: String,
    pub role: String,
    pub state: InstanceState,
}

/// An EC2 instance's state (`InstanceStateName`), as the decisions about it need it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
    /// A state this version of sbx does not know; never taken for any of the above.
    Other(String),
}

impl InstanceState {
    /// The name EC2 gives the state (`shutting-down`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Other(name) => name,
        }
    }

    /// The state EC2 named `name`.
    pub fn parse(name: &str) -> Self {
        match name {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            other => InstanceState::Other(other.to_owned()),
        }
    }

    /// The state of an instance EC2 described.
    pub fn of(instance: &aws_sdk_ec2::types::Instance) -> Self {
        instance
            .state()
            .and_then(|s| s.name())
            .map_or(InstanceState::Other("unknown".into()), |n| {
                InstanceState::parse(n.as_str())
            })
    }

    /// On its way out: AWS is still removing or stopping it.
    pub fn is_settling(&self) -> bool {
        matches!(self, InstanceState::ShuttingDown | InstanceState::Stopping)
    }
}

impl std::fmt::Display for InstanceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// States in which an instance still exists for its owner.
const ALIVE: [InstanceState; 4] = [
    InstanceState::Pending,
    InstanceState::Running,
    InstanceState::Stopping,
    InstanceState::Stopped,
];

/// The owner's instances that are not terminated (or shutting down), with their roles.
pub async fn find(ec2: &Client, owner: &Owner) -> Result<Vec<Vm>, AwsError> {
    find_in(ec2, owner, &ALIVE).await
}

/// The owner's instances that are not terminated yet: shutting down ones too, which still hold
/// their network interfaces (and so the subnet and security group) for a minute or more.
pub async fn remaining(ec2: &Client, owner: &Owner) -> Result<Vec<Vm>, AwsError> {
    let mut states = ALIVE.to_vec();
    states.push(InstanceState::ShuttingDown);
    find_in(ec2, owner, &states).await
}

async fn find_in(ec2: &Client, owner: &Owner, states: &[InstanceState]) -> Result<Vec<Vm>, AwsError> {
    let key = match owner {
        Owner::Sandbox { sandbox, .. } => (tags::SANDBOX, sandbox.as_str()),
        Owner::Account { account, .. } => (tags::ACCOUNT, account.as_str()),
    };
    let mut request = ec2
        .describe_instances()
        .filters(tags::filter(&format!("tag:{}", key.0), key.1));
    request = request.filters(
        aws_sdk_ec2::types::Filter::builder()
            .name("instance-state-name")
            .set_values(Some(states.iter().map(|s| s.as_str().to_owned()).collect()))
            .build(),
    );
    let output = request.send().await.map_err(sdk("DescribeInstances"))?;
    let mut vms = Vec::new();
    for reservation in output.reservations() {
        for instance in reservation.instances() {
            let role = instance
                .tags()
                .iter()
                .find(|tag| tag.key() == Some(tags::ROLE))
                .and_then(|tag| tag.value())
                .unwrap_or_default();
            vms.push(Vm {
                id: instance.instance_id().unwrap_or_default().to_owned(),
                role: role.to_owned(),
                state: InstanceState::of(instance),
            });
        }
    }
    vms.sort_by(|a, b| a.role.cmp(&b.role).then(a.id.cmp(&b.id)));
    Ok(vms)
}

/// The instance of `launch.role`, launched now unless an earlier try launched it.
pub async fn ensure(ec2: &Client, launch: &Launch<'_>) -> Result<String, AwsError> {
    if let Some(vm) = find(ec2, launch.owner)
        .await?
        .into_iter()
        .find(|vm| vm.role == launch.role)
    {
        return Ok(vm.id);
    }
    let output = ec2
        .run_instances()
        .image_id(launch.image_id)
        .instance_type(InstanceType::from(launch.instance_type))
        .min_count(1)
        .max_count(1)
        .subnet_id(launch.subnet_id)
        .security_group_ids(launch.security_group_id)
        .set_iam_instance_profile(launch.instance_profile.map(|name| {
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .name(name)
                .build()
        }))
        .client_token(launch.client_token)
        .tag_specifications(launch.owner.ec2_spec(ResourceType::Instance, launch.role))
        .send()
        .await
        .map_err(|err| launch_not_yet(AwsError::from_sdk("RunInstances", err)))?;
    let id = output
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("RunInstances returned no instance".into()))?;
    tracing::info!(instance = %id, role = launch.role, "instance launched");
    Ok(id)
}

/// What RunInstances refuses while AWS catches up: a subnet or group made a moment ago, and an
/// instance profile IAM has not propagated to EC2 yet (`InvalidParameterValue`, "Invalid IAM
/// Instance Profile name"); any other invalid parameter is the caller's.
fn launch_not_yet(err: AwsError) -> AwsError {
    let profile = matches!(&err, AwsError::Api { code, message, .. }
        if code == "InvalidParameterValue" && message.contains("IAM Instance Profile"));
    if profile {
        return err.not_yet(&["InvalidParameterValue"]);
    }
    err.not_yet(&["InvalidSubnetID.NotFound", "InvalidGroup.NotFound"])
}

pub async fn start(ec2: &Client, ids: &[String]) -> Result<(), AwsError> {
    if ids.is_empty() {
        return Ok(());
    }
    ec2.start_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(sdk_not_yet("StartInstances", &["InvalidInstanceID.NotFound"]))?;
    Ok(())
}

pub async fn stop(ec2: &Client, ids: &[String]) -> Result<(), AwsError> {
    if ids.is_empty() {
        return Ok(());
    }
    ec2.stop_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        // A pending instance cannot be stopped until it is running.
        .map_err(sdk_not_yet(
            "StopInstances",
            &["IncorrectInstanceState", "InvalidInstanceID.NotFound"],
        ))?;
    Ok(())
}

/// Terminates instances launched a moment ago. AWS may not know an id it just gave out
/// (`InvalidInstanceID.NotFound` for a few seconds): that is "not yet", and the caller tries
/// again, rather than taking the instance for gone and leaving it running.
pub async fn terminate_launched(ec2: &Client, ids: &[String]) -> Result<(), AwsError> {
    if ids.is_empty() {
        return Ok(());
    }
    ec2.terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(sdk_not_yet("TerminateInstances", &["InvalidInstanceID.NotFound"]))?;
    Ok(())
}

/// Terminates the instances; those gone already are skipped.
pub async fn terminate(ec2: &Client, ids: &[String]) -> Result<(), AwsError> {
    if ids.is_empty() {
        return Ok(());
    }
    let result = ec2
        .terminate_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .map_err(sdk("TerminateInstances"));
    match result {
        Ok(_) => Ok(()),
        Err(err) if err.has_code(&["InvalidInstanceID.NotFound"]) => Ok(()),
        Err(err) => Err(err),
    }
}
