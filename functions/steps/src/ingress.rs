//! `register-ingress` and `deregister-ingress`: the sandbox's routes through the account's load
//! balancers.

use crate::error::StepError;
use crate::job::{Job, host};
use sbx_aws::ingress::Targets;
use sbx_aws::{Ingress, Networks, Vms};
use sbx_lifecycle::{AmqEndpoint, Endpoints};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutesOutput {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amq_port: Option<i32>,
    /// Where the sandbox is reached; `finish-operation` records them on the started record.
    pub endpoints: Endpoints,
}

/// The sandbox's endpoints: the ACP web and REST URLs on the ALB's host rule (the ALB listens
/// on HTTP), AMQ on the NLB, and the streaming stack.
pub fn endpoints(host: &str, amq: Option<(String, i32)>, smart_client: bool) -> Endpoints {
    Endpoints {
        web: format!("http://{host}/"),
        rest: format!("http://{host}/api/"),
        amq: amq.map(|(host, port)| AmqEndpoint { host, port }),
        streaming_stack: smart_client.then(|| sbx_aws::streaming::STACK.to_owned()),
    }
}

/// Registers the sandbox's routes: its OCP VM behind the ALB, and its ACP VM behind the NLB
/// when it has `amq`. `aws` finds the account's network and the sandbox's VMs, and routes.
pub async fn register(
    aws: &(impl Networks + Vms + Ingress),
    domain: &str,
    job: Job,
) -> Result<RoutesOutput, StepError> {
    let account = job.account()?;
    let network = aws
        .account_network(account, &job.account_owner(account))
        .await?
        .ok_or_else(|| StepError::Failed(format!("account {account} has no network")))?;
    let vms = aws.find(account, &job.sandbox_owner()).await?;
    let instance = |role: &str| {
        vms.iter()
            .find(|vm| vm.role == role)
            .map(|vm| vm.id.clone())
            .ok_or_else(|| StepError::Failed(format!("sandbox {} has no {role} instance", job.sandbox_id)))
    };
    let (ocp, acp) = (instance("ocp")?, instance("acp")?);
    let host = host(&job.tenant, &job.sandbox_id, domain);
    let routes = aws
        .register(
            account,
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
    let amq = match (routes.amq_host, routes.amq_port) {
        (Some(host), Some(port)) => Some((host, port)),
        _ => None,
    };
    Ok(RoutesOutput {
        endpoints: endpoints(&routes.host, amq, job.options.smart_client),
        host: routes.host,
        amq_port: routes.amq_port,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeregisteredOutput {
    pub host: String,
}

pub async fn deregister(
    ingress: &impl Ingress,
    domain: &str,
    job: Job,
) -> Result<DeregisteredOutput, StepError> {
    let host = host(&job.tenant, &job.sandbox_id, domain);
    if let Some(account) = job.account_id.as_deref() {
        ingress
            .deregister(account, &job.tenant, &job.sandbox_id, &host)
            .await?;
    }
    Ok(DeregisteredOutput { host })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::test_job as job;
    use sbx_aws::instances::InstanceState;
    use sbx_fakes::{ACCOUNT, FakeAws};

    const DOMAIN: &str = "sbx.test";

    #[tokio::test]
    async fn registering_twice_routes_once_and_amq_goes_to_the_acp() {
        let aws = FakeAws::default();
        aws.add_account_network(ACCOUNT);
        let mut amq = job("create", Some(ACCOUNT));
        amq.options.amq = true;
        let owner = amq.sandbox_owner();
        let acp = aws.add_vm(ACCOUNT, &owner, "acp", InstanceState::Running);
        let ocp = aws.add_vm(ACCOUNT, &owner, "ocp", InstanceState::Running);
        let first = register(&aws, DOMAIN, amq.clone()).await;
        let again = register(&aws, DOMAIN, amq).await;
        assert_eq!(
            first.ok(),
            Some(RoutesOutput {
                host: "s1.acme.sbx.test".into(),
                amq_port: Some(10_001),
                endpoints: Endpoints {
                    web: "http://s1.acme.sbx.test/".into(),
                    rest: "http://s1.acme.sbx.test/api/".into(),
                    amq: Some(AmqEndpoint {
                        host: "sbx-nlb.elb.example".into(),
                        port: 10_001
                    }),
                    streaming_stack: None,
                },
            })
        );
        assert!(again.is_ok());
        let state = aws.state();
        assert_eq!(state.changes, ["CreateRule s1.acme.sbx.test"]);
        let behind = state.routes.values().next().map(|(_, ids)| ids.clone());
        assert_eq!(behind, Some(vec![ocp, acp]), "HTTP to the OCP, AMQ to the ACP");
    }

    #[tokio::test]
    async fn registering_refuses_a_missing_network_or_instance() {
        let aws = FakeAws::default();
        let no_network = register(&aws, DOMAIN, job("create", Some(ACCOUNT))).await;
        assert!(
            matches!(&no_network, Err(StepError::Failed(m)) if m.contains("no network")),
            "{no_network:?}"
        );
        aws.add_account_network(ACCOUNT);
        aws.add_vm(
            ACCOUNT,
            &job("create", Some(ACCOUNT)).sandbox_owner(),
            "acp",
            InstanceState::Running,
        );
        let no_ocp = register(&aws, DOMAIN, job("create", Some(ACCOUNT))).await;
        assert!(
            matches!(&no_ocp, Err(StepError::Failed(m)) if m.contains("no ocp")),
            "{no_ocp:?}"
        );
        assert!(aws.state().changes.is_empty());
    }

    #[tokio::test]
    async fn deregistering_what_is_gone_is_ok() {
        let aws = FakeAws::default();
        for account in [None, Some(ACCOUNT), Some(ACCOUNT)] {
            let out = deregister(&aws, DOMAIN, job("stop", account)).await;
            assert_eq!(out.map(|o| o.host).ok().as_deref(), Some("s1.acme.sbx.test"));
        }
        assert!(aws.state().changes.is_empty());
    }
}
