//! `register-ingress` and `deregister-ingress`: the sandbox's routes through the account's load
//! balancers.

use crate::context::Steps;
use crate::error::StepError;
use crate::job::{Job, host};
use sbx_aws::ingress::{self, Targets};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutesOutput {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amq_port: Option<i32>,
}

pub async fn register(steps: &Steps, job: Job) -> Result<RoutesOutput, StepError> {
    let account = job.account()?;
    let clients = steps.account(account).await;
    let network = sbx_aws::network::account_network(&clients.ec2, &job.account_owner(account))
        .await?
        .ok_or_else(|| StepError::Failed(format!("account {account} has no network")))?;
    let vms = sbx_aws::instances::find(&clients.ec2, &job.sandbox_owner()).await?;
    let instance = |role: &str| {
        vms.iter()
            .find(|vm| vm.role == role)
            .map(|vm| vm.id.clone())
            .ok_or_else(|| StepError::Failed(format!("sandbox {} has no {role} instance", job.sandbox_id)))
    };
    let (ocp, acp) = (instance("ocp")?, instance("acp")?);
    let host = host(&job.tenant, &job.sandbox_id, &steps.settings.ingress_domain);
    let routes = ingress::register(
        &clients,
        &Targets {
            owner: &job.sandbox_owner(),
            tenant: &job.tenant,
            sandbox: &job.sandbox_id,
            vpc_id: &network.vpc_id,
            host: &host,
            http: &ocp,
            amq: job.options.amq.then_some(acp.as_str()),
        },
    )
    .await?;
    Ok(RoutesOutput {
        host: routes.host,
        amq_port: routes.amq_port,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeregisteredOutput {
    pub host: String,
}

pub async fn deregister(steps: &Steps, job: Job) -> Result<DeregisteredOutput, StepError> {
    let host = host(&job.tenant, &job.sandbox_id, &steps.settings.ingress_domain);
    if let Some(account) = job.account_id.as_deref() {
        let clients = steps.account(account).await;
        ingress::deregister(&clients, &job.tenant, &job.sandbox_id, &host).await?;
    }
    Ok(DeregisteredOutput { host })
}
