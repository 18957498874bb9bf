//! A sandbox's ingress (SPEC: Ingress routes): an ALB target group with the OCP VM and a listener
//! rule for the sandbox's host name; with `amq`, an NLB target group with the ACP VM and an NLB
//! listener on a port of its own.

use crate::account::AccountClients;
use crate::error::{AwsError, gone, sdk, sdk_not_yet};
use crate::infra::{ALB_NAME, NLB_NAME, find_load_balancer, http_listener};
use crate::network::{AMQ_PORT, HTTP_PORT};
use crate::tags::{self, Owner};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, HostHeaderConditionConfig, ProtocolEnum, RuleCondition, TargetDescription,
    TargetTypeEnum,
};

/// NLB listener ports for sandboxes: 10000 to 19999.
const AMQ_PORTS: std::ops::Range<i32> = 10_000..20_000;
/// Listener rule priorities: 1 to 50000.
const PRIORITIES: u32 = 50_000;

/// What a sandbox is reachable at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    pub host: String,
    pub amq_port: Option<i32>,
    /// The NLB's DNS name, where `amq_port` listens.
    pub amq_host: Option<String>,
}

/// Where to route.
#[derive(Debug, Clone)]
pub struct Targets<'a> {
    pub owner: &'a Owner,
    pub tenant: &'a str,
    pub sandbox: &'a str,
    pub vpc_id: &'a str,
    pub host: &'a str,
    /// The OCP VM, behind the ALB.
    pub http: &'a str,
    /// The ACP VM, behind the NLB (when `amq`).
    pub amq: Option<&'a str>,
}

fn http_group_name(tenant: &str, sandbox: &str) -> String {
    tags::short_name("sbx", tenant, sandbox)
}

fn amq_group_name(tenant: &str, sandbox: &str) -> String {
    tags::short_name("amq", tenant, sandbox)
}

/// Registers the sandbox's routes, or finds those an earlier try registered.
pub async fn register(clients: &AccountClients, targets: &Targets<'_>) -> Result<Routes, AwsError> {
    let alb = find_load_balancer(clients, ALB_NAME)
        .await?
        .ok_or_else(|| AwsError::Missing("the account has no ALB: its infrastructure is not there".into()))?;
    let listener = http_listener(clients, &alb)
        .await?
        .ok_or_else(|| AwsError::Missing("the ALB has no HTTP listener".into()))?;
    let http_group = ensure_target_group(
        clients,
        targets,
        &http_group_name(targets.tenant, targets.sandbox),
        ProtocolEnum::Http,
        HTTP_PORT,
        targets.http,
    )
    .await?;
    if find_rule(clients, &listener, targets.host).await?.is_none() {
        create_rule(clients, &listener, targets, &http_group).await?;
    }
    let (amq_port, amq_host) = match targets.amq {
        None => (None, None),
        Some(instance) => {
            let nlb = find_load_balancer(clients, NLB_NAME).await?.ok_or_else(|| {
                AwsError::Missing("the account has no NLB although a sandbox needs AMQ".into())
            })?;
            let group = ensure_target_group(
                clients,
                targets,
                &amq_group_name(targets.tenant, targets.sandbox),
                ProtocolEnum::Tcp,
                AMQ_PORT,
                instance,
            )
            .await?;
            let port = ensure_amq_listener(clients, &nlb, targets, &group).await?;
            (Some(port), load_balancer_dns(clients, &nlb).await?)
        }
    };
    Ok(Routes {
        host: targets.host.to_owned(),
        amq_port,
        amq_host,
    })
}

/// The DNS name clients reach the load balancer `arn` at.
async fn load_balancer_dns(clients: &AccountClients, arn: &str) -> Result<Option<String>, AwsError> {
    let output = clients
        .elb()
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .map_err(sdk("DescribeLoadBalancers"))?;
    Ok(output
        .load_balancers()
        .first()
        .and_then(|lb| lb.dns_name())
        .map(str::to_owned))
}

/// Removes the sandbox's rule, listener and target groups; what is gone already is skipped.
pub async fn deregister(
    clients: &AccountClients,
    tenant: &str,
    sandbox: &str,
    host: &str,
) -> Result<(), AwsError> {
    if let Some(alb) = find_load_balancer(clients, ALB_NAME).await?
        && let Some(listener) = http_listener(clients, &alb).await?
        && let Some(rule) = find_rule(clients, &listener, host).await?
    {
        let result = clients
            .elb()
            .delete_rule()
            .rule_arn(rule)
            .send()
            .await
            .map_err(sdk("DeleteRule"));
        gone(result, &["RuleNotFound"])?;
    }
    let amq_group = find_target_group(clients, &amq_group_name(tenant, sandbox)).await?;
    if let (Some(nlb), Some(group)) = (find_load_balancer(clients, NLB_NAME).await?, &amq_group) {
        for listener in listeners_to(clients, &nlb, group).await? {
            let result = clients
                .elb()
                .delete_listener()
                .listener_arn(listener.0)
                .send()
                .await
                .map_err(sdk("DeleteListener"));
            gone(result, &["ListenerNotFound"])?;
        }
    }
    for name in [http_group_name(tenant, sandbox), amq_group_name(tenant, sandbox)] {
        if let Some(arn) = find_target_group(clients, &name).await? {
            let result = clients
                .elb()
                .delete_target_group()
                .target_group_arn(arn)
                .send()
                .await
                // In use while the listener or rule just deleted is still being removed.
                .map_err(sdk_not_yet("DeleteTargetGroup", &["ResourceInUse"]));
            gone(result, &["TargetGroupNotFound"])?;
        }
    }
    Ok(())
}

/// The ARNs of the sandbox's target groups that exist.
pub async fn target_groups(
    clients: &AccountClients,
    tenant: &str,
    sandbox: &str,
) -> Result<Vec<String>, AwsError> {
    let mut found = Vec::new();
    for name in [http_group_name(tenant, sandbox), amq_group_name(tenant, sandbox)] {
        found.extend(find_target_group(clients, &name).await?);
    }
    Ok(found)
}

async fn find_target_group(clients: &AccountClients, name: &str) -> Result<Option<String>, AwsError> {
    let result = clients
        .elb()
        .describe_target_groups()
        .names(name)
        .send()
        .await
        .map_err(sdk("DescribeTargetGroups"));
    Ok(gone(result, &["TargetGroupNotFound"])?.and_then(|output| {
        output
            .target_groups()
            .first()
            .and_then(|g| g.target_group_arn())
            .map(str::to_owned)
    }))
}

async fn ensure_target_group(
    clients: &AccountClients,
    targets: &Targets<'_>,
    name: &str,
    protocol: ProtocolEnum,
    port: i32,
    instance: &str,
) -> Result<String, AwsError> {
    let arn = match find_target_group(clients, name).await? {
        Some(arn) => arn,
        None => {
            let role = if protocol == ProtocolEnum::Tcp {
                "amq"
            } else {
                "http"
            };
            let output = clients
                .elb()
                .create_target_group()
                .name(name)
                .protocol(protocol)
                .port(port)
                .vpc_id(targets.vpc_id)
                .target_type(TargetTypeEnum::Instance)
                .set_tags(Some(targets.owner.elb_tags(role)))
                .send()
                .await
                .map_err(sdk("CreateTargetGroup"));
            match output {
                Ok(output) => output
                    .target_groups()
                    .first()
                    .and_then(|g| g.target_group_arn())
                    .map(str::to_owned)
                    .ok_or_else(|| AwsError::Missing("CreateTargetGroup returned no ARN".into()))?,
                // An earlier try made it and its answer was lost: the name is the sandbox's.
                Err(err) if err.has_code(&["DuplicateTargetGroupName"]) => find_target_group(clients, name)
                    .await?
                    .ok_or_else(|| err.not_yet(&["DuplicateTargetGroupName"]))?,
                Err(err) => return Err(err),
            }
        }
    };
    let target = TargetDescription::builder().id(instance).port(port).build();
    clients
        .elb()
        .register_targets()
        .target_group_arn(&arn)
        .targets(target)
        .send()
        .await
        // An instance launched a moment ago may not be known to the load balancer yet.
        .map_err(sdk_not_yet("RegisterTargets", &["InvalidTarget"]))?;
    Ok(arn)
}

fn forward(group: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(group)
        .build()
}

async fn find_rule(clients: &AccountClients, listener: &str, host: &str) -> Result<Option<String>, AwsError> {
    let output = clients
        .elb()
        .describe_rules()
        .listener_arn(listener)
        .send()
        .await
        .map_err(sdk("DescribeRules"))?;
    Ok(output
        .rules()
        .iter()
        .find(|rule| {
            rule.conditions().iter().any(|c| {
                c.field() == Some("host-header")
                    && (c.values().iter().any(|v| v == host)
                        || c.host_header_config()
                            .is_some_and(|h| h.values().iter().any(|v| v == host)))
            })
        })
        .and_then(|rule| rule.rule_arn())
        .map(str::to_owned))
}

async fn create_rule(
    clients: &AccountClients,
    listener: &str,
    targets: &Targets<'_>,
    group: &str,
) -> Result<(), AwsError> {
    let start = tags::slot(targets.tenant, targets.sandbox, PRIORITIES);
    for i in 0..PRIORITIES {
        let priority = 1 + (start + i) % PRIORITIES;
        let condition = RuleCondition::builder()
            .field("host-header")
            .host_header_config(HostHeaderConditionConfig::builder().values(targets.host).build())
            .build();
        let result = clients
            .elb()
            .create_rule()
            .listener_arn(listener)
            .priority(priority as i32)
            .conditions(condition)
            .actions(forward(group))
            .set_tags(Some(targets.owner.elb_tags("http")))
            .send()
            .await
            .map_err(sdk("CreateRule"));
        match result {
            Ok(_) => return Ok(()),
            // Taken by another sandbox's rule, or by this one's, made by a try whose answer
            // was lost.
            Err(err) if err.has_code(&["PriorityInUse"]) => {
                if find_rule(clients, listener, targets.host).await?.is_some() {
                    return Ok(());
                }
            }
            Err(err) => return Err(err),
        }
    }
    Err(AwsError::Exhausted {
        what: "listener rule priority",
        within: listener.to_owned(),
    })
}

/// The NLB's listeners forwarding to `group`, with their ports.
async fn listeners_to(
    clients: &AccountClients,
    nlb: &str,
    group: &str,
) -> Result<Vec<(String, i32)>, AwsError> {
    let output = clients
        .elb()
        .describe_listeners()
        .load_balancer_arn(nlb)
        .send()
        .await
        .map_err(sdk("DescribeListeners"))?;
    Ok(output
        .listeners()
        .iter()
        .filter(|l| {
            l.default_actions()
                .iter()
                .any(|a| a.target_group_arn() == Some(group))
        })
        .filter_map(|l| Some((l.listener_arn()?.to_owned(), l.port()?)))
        .collect())
}

async fn ensure_amq_listener(
    clients: &AccountClients,
    nlb: &str,
    targets: &Targets<'_>,
    group: &str,
) -> Result<i32, AwsError> {
    if let Some((_, port)) = listeners_to(clients, nlb, group).await?.into_iter().next() {
        return Ok(port);
    }
    let count = (AMQ_PORTS.end - AMQ_PORTS.start) as u32;
    let start = tags::slot(targets.tenant, targets.sandbox, count);
    for i in 0..count {
        let port = AMQ_PORTS.start + ((start + i) % count) as i32;
        let result = clients
            .elb()
            .create_listener()
            .load_balancer_arn(nlb)
            .protocol(ProtocolEnum::Tcp)
            .port(port)
            .default_actions(forward(group))
            .send()
            .await
            .map_err(sdk("CreateListener"));
        match result {
            Ok(_) => return Ok(port),
            // The port is another sandbox's, or this one's from a try whose answer was lost.
            Err(err) if err.has_code(&["DuplicateListener"]) => {
                if let Some((_, port)) = listeners_to(clients, nlb, group).await?.into_iter().next() {
                    return Ok(port);
                }
            }
            Err(err) => return Err(err),
        }
    }
    Err(AwsError::Exhausted {
        what: "NLB listener port",
        within: nlb.to_owned(),
    })
}
