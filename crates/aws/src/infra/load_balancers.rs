//! The account's load balancers: the ALB with its HTTP listener (whose default answer is a
//! 404 until a sandbox's rule matches), and the NLB; each found by name before it is made.

use super::{HTTP_LISTENER_PORT, NLB_NAME};
use crate::account::AccountClients;
use crate::error::{AwsError, gone, sdk, sdk_not_yet};
use crate::network::AccountNetwork;
use crate::tags::Owner;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
    ProtocolEnum,
};

pub async fn find_load_balancer(clients: &AccountClients, name: &str) -> Result<Option<String>, AwsError> {
    let result = clients
        .elb()
        .describe_load_balancers()
        .names(name)
        .send()
        .await
        .map_err(sdk("DescribeLoadBalancers"));
    Ok(gone(result, &["LoadBalancerNotFound"])?.and_then(|output| {
        output
            .load_balancers()
            .first()
            .and_then(|lb| lb.load_balancer_arn())
            .map(str::to_owned)
    }))
}

pub(super) async fn ensure_load_balancer(
    clients: &AccountClients,
    owner: &Owner,
    name: &str,
    kind: LoadBalancerTypeEnum,
    network: &AccountNetwork,
) -> Result<String, AwsError> {
    if let Some(arn) = find_load_balancer(clients, name).await? {
        return Ok(arn);
    }
    let group = match kind {
        LoadBalancerTypeEnum::Network => &network.nlb_group,
        _ => &network.alb_group,
    };
    let role = if name == NLB_NAME { "nlb" } else { "alb" };
    let output = clients
        .elb()
        .create_load_balancer()
        .name(name)
        .r#type(kind)
        .scheme(LoadBalancerSchemeEnum::InternetFacing)
        .set_subnets(Some(network.public_subnets.clone()))
        .security_groups(group)
        .set_tags(Some(owner.elb_tags(role)))
        .send()
        .await
        // Subnets and groups made a moment ago may not be visible to ELB yet.
        .map_err(sdk_not_yet(
            "CreateLoadBalancer",
            &["SubnetNotFound", "InvalidSecurityGroup", "InvalidSubnet"],
        ));
    let output = match output {
        Ok(output) => output,
        // An earlier try made it and its answer was lost: the name is the account's own.
        Err(err) if err.has_code(&["DuplicateLoadBalancerName"]) => {
            return find_load_balancer(clients, name)
                .await?
                .ok_or_else(|| err.not_yet(&["DuplicateLoadBalancerName"]));
        }
        Err(err) => return Err(err),
    };
    let arn = output
        .load_balancers()
        .first()
        .and_then(|lb| lb.load_balancer_arn())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateLoadBalancer returned no ARN".into()))?;
    tracing::info!(name, "load balancer created");
    Ok(arn)
}

/// Makes the ALB's HTTP listener unless it has one; returns whether it made it.
pub(super) async fn ensure_http_listener(clients: &AccountClients, alb_arn: &str) -> Result<bool, AwsError> {
    if http_listener(clients, alb_arn).await?.is_some() {
        return Ok(false);
    }
    let not_found = FixedResponseActionConfig::builder()
        .status_code("404")
        .content_type("text/plain")
        .message_body("no sandbox here")
        .build();
    let action = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(not_found)
        .build();
    let output = clients
        .elb()
        .create_listener()
        .load_balancer_arn(alb_arn)
        .protocol(ProtocolEnum::Http)
        .port(HTTP_LISTENER_PORT)
        .default_actions(action)
        .send()
        .await
        .map_err(sdk("CreateListener"));
    match output {
        Ok(_) => Ok(true),
        // An earlier try made it and its answer was lost.
        Err(err) if err.has_code(&["DuplicateListener"]) => {
            http_listener(clients, alb_arn).await?.ok_or(err)?;
            Ok(true)
        }
        Err(err) => Err(err),
    }
}

/// The ALB's HTTP listener, if the ALB has one.
pub async fn http_listener(clients: &AccountClients, alb_arn: &str) -> Result<Option<String>, AwsError> {
    let output = clients
        .elb()
        .describe_listeners()
        .load_balancer_arn(alb_arn)
        .send()
        .await
        .map_err(sdk("DescribeListeners"))?;
    Ok(output
        .listeners()
        .iter()
        .find(|l| l.port() == Some(HTTP_LISTENER_PORT))
        .and_then(|l| l.listener_arn())
        .map(str::to_owned))
}

pub(super) async fn delete_load_balancer(clients: &AccountClients, name: &str) -> Result<(), AwsError> {
    let Some(arn) = find_load_balancer(clients, name).await? else {
        return Ok(());
    };
    let result = clients
        .elb()
        .delete_load_balancer()
        .load_balancer_arn(&arn)
        .send()
        .await
        .map_err(sdk("DeleteLoadBalancer"));
    gone(result, &["LoadBalancerNotFound"])?;
    tracing::info!(name, "load balancer deleted");
    Ok(())
}
