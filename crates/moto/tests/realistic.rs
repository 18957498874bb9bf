//! The realistic mode's AWS ways: eventual consistency, propagation delays and asynchronous
//! states (`serve.py`: `eventual_consistency` and `asynchronous_resources`), one test per
//! behaviour, each failing if its patch stopped working. The delay is short, and
//! every wait is a poll with a deadline.

use aws_config::SdkConfig;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, IamInstanceProfileSpecification, ResourceType, Tag, TagSpecification};
use sbx_moto::MotoServer;
use std::future::Future;
use std::time::{Duration, Instant};

/// The delay D every behaviour is measured in.
const D: Duration = Duration::from_millis(600);

struct Aws {
    _moto: MotoServer,
    config: SdkConfig,
    ec2: aws_sdk_ec2::Client,
}

async fn realistic(seed: u64) -> Aws {
    let moto = MotoServer::start_seeded(0, D, seed).unwrap_or_else(|e| panic!("{e}"));
    let config = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    Aws {
        _moto: moto,
        config,
        ec2,
    }
}

fn code<E: ProvideErrorMetadata>(result: Result<impl std::fmt::Debug, E>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(err) => err.code().unwrap_or("no code").to_owned(),
    }
}

/// Polls `check` until it is true, for at most `limit`; returns how long it took.
async fn until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

fn tagged(kind: ResourceType, value: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("sbx:test").value(value).build())
        .build()
}

fn by_tag(value: &str) -> Filter {
    Filter::builder().name("tag:sbx:test").values(value).build()
}

async fn vpc(ec2: &aws_sdk_ec2::Client) -> String {
    ec2.create_vpc()
        .cidr_block("10.0.0.0/16")
        .tag_specifications(tagged(ResourceType::Vpc, "vpc"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap_or_default()
        .to_owned()
}

async fn subnet(ec2: &aws_sdk_ec2::Client, vpc: &str, cidr: &str) -> String {
    ec2.create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .subnet()
        .and_then(|s| s.subnet_id())
        .unwrap_or_default()
        .to_owned()
}

/// A subnet of a new VPC, each waited for until the calls that name it can see it.
async fn visible_subnet(ec2: &aws_sdk_ec2::Client) -> String {
    let vpc = vpc(ec2).await;
    tokio::time::sleep(D).await;
    let subnet = subnet(ec2, &vpc, "10.0.1.0/24").await;
    tokio::time::sleep(D).await;
    subnet
}

async fn instance(ec2: &aws_sdk_ec2::Client, subnet: &str, profile: Option<&str>) -> String {
    ec2.run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .set_iam_instance_profile(profile.map(|p| IamInstanceProfileSpecification::builder().name(p).build()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap_or_default()
        .to_owned()
}

async fn state(ec2: &aws_sdk_ec2::Client, id: &str) -> String {
    let found = ec2.describe_instances().instance_ids(id).send().await;
    found
        .ok()
        .and_then(|o| {
            o.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .find_map(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()))
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_new_id_is_not_found_by_the_calls_that_name_it_and_describes_miss_it_for_a_while() {
    let aws = realistic(1).await;
    let ec2 = &aws.ec2;
    // Before the create is sent: AWS's window starts when the VPC is made, which is before its
    // answer arrives (by as long as a loaded machine takes to deliver it).
    let made = Instant::now();
    let vpc = vpc(ec2).await;
    assert_eq!(
        code(
            ec2.create_subnet()
                .vpc_id(&vpc)
                .cidr_block("10.0.1.0/24")
                .send()
                .await
        ),
        "InvalidVpcID.NotFound"
    );
    let gateway = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let gateway = gateway
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap_or_default();
    assert_eq!(
        code(
            ec2.attach_internet_gateway()
                .internet_gateway_id(gateway)
                .vpc_id(&vpc)
                .send()
                .await
        ),
        "InvalidInternetGatewayID.NotFound"
    );
    let tagged_vpcs = async || {
        let found = ec2.describe_vpcs().filters(by_tag("vpc")).send().await;
        found.map(|o| o.vpcs().len()).unwrap_or_default()
    };
    assert_eq!(tagged_vpcs().await, 0, "a describe by tag misses the new VPC");
    assert_eq!(
        code(ec2.describe_vpcs().vpc_ids(&vpc).send().await),
        "InvalidVpcID.NotFound",
        "asked by id, it is not found either"
    );

    until(D * 4, "the VPC to be seen", async || tagged_vpcs().await == 1).await;
    assert!(made.elapsed() >= D, "seen only after the window");
    ec2.create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .send()
        .await
        .unwrap_or_else(|e| panic!("once visible, the VPC takes a subnet: {e:?}"));
}

#[tokio::test]
async fn the_ssm_agent_registers_a_while_after_its_instance_is_running() {
    let aws = realistic(1).await;
    let ec2 = &aws.ec2;
    let iam = aws_sdk_iam::Client::new(&aws.config);
    let ssm = aws_sdk_ssm::Client::new(&aws.config);
    iam.create_instance_profile()
        .instance_profile_name("agent")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let vpc = vpc(ec2).await;
    tokio::time::sleep(D).await;
    let subnet = subnet(ec2, &vpc, "10.0.1.0/24").await;
    let gateway = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let gateway = gateway
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap_or_default()
        .to_owned();
    tokio::time::sleep(D).await;
    ec2.attach_internet_gateway()
        .internet_gateway_id(&gateway)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let main = ec2
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let table = main
        .route_tables()
        .first()
        .and_then(|t| t.route_table_id())
        .unwrap_or_default()
        .to_owned();
    ec2.create_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&gateway)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));

    // Before the launch: the agent registers SSM_REGISTRATION·D after the instance runs, which
    // is after the launch; measured from here, a loaded machine's delays cannot shorten it.
    let launched = Instant::now();
    let id = instance(ec2, &subnet, Some("agent")).await;
    until(D * 4, "running", async || state(ec2, &id).await == "running").await;
    let send = async || {
        ssm.send_command()
            .document_name("AWS-RunShellScript")
            .instance_ids(&id)
            .parameters("commands", vec!["true".to_owned()])
            .send()
            .await
    };
    assert_eq!(
        code(send().await),
        "InvalidInstanceId",
        "running, not registered yet"
    );
    until(D * 6, "the agent to register", async || send().await.is_ok()).await;
    let waited = launched.elapsed();
    assert!(
        waited >= D * 2,
        "registration takes SSM_REGISTRATION·D after running ({waited:?} after the launch)"
    );
}

#[tokio::test]
async fn instance_profiles_and_roles_are_usable_only_once_iam_has_propagated() {
    let aws = realistic(1).await;
    let ec2 = &aws.ec2;
    let iam = aws_sdk_iam::Client::new(&aws.config);
    let subnet = visible_subnet(ec2).await;

    iam.create_instance_profile()
        .instance_profile_name("fresh")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let launch = async || {
        ec2.run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .subnet_id(&subnet)
            .iam_instance_profile(IamInstanceProfileSpecification::builder().name("fresh").build())
            .send()
            .await
    };
    let refused = launch().await;
    assert!(
        matches!(&refused, Err(e) if e.code() == Some("InvalidParameterValue")
            && e.message().unwrap_or_default().contains("Invalid IAM Instance Profile name")),
        "{refused:?}"
    );
    until(D * 4, "the profile to propagate", async || launch().await.is_ok()).await;

    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("fresh-role")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let assumed = async || {
        let provider =
            aws_config::sts::AssumeRoleProvider::builder("arn:aws:iam::123456789012:role/fresh-role")
                .session_name("test")
                .configure(&aws.config)
                .build()
                .await;
        use aws_credential_types::provider::ProvideCredentials;
        provider.provide_credentials().await
    };
    let refused = assumed().await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| format!("{e:?}").contains("AccessDenied")),
        "{refused:?}"
    );
    until(D * 4, "the role to propagate", async || assumed().await.is_ok()).await;
}

#[tokio::test]
async fn a_subnet_and_a_group_stay_in_use_while_a_terminated_instance_lets_go_of_them() {
    let aws = realistic(1).await;
    let ec2 = &aws.ec2;
    let vpc = vpc(ec2).await;
    tokio::time::sleep(D).await;
    let subnet = subnet(ec2, &vpc, "10.0.1.0/24").await;
    let group = ec2
        .create_security_group()
        .group_name("held")
        .description("held")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let group = group.group_id().unwrap_or_default().to_owned();
    tokio::time::sleep(D).await;
    let id = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(&subnet)
        .security_group_ids(&group)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let id = id
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap_or_default()
        .to_owned();
    until(D * 4, "known by its id", async || {
        !state(ec2, &id).await.is_empty()
    })
    .await;
    ec2.terminate_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    until(D * 4, "terminated", async || {
        state(ec2, &id).await == "terminated"
    })
    .await;
    assert_eq!(
        code(ec2.delete_subnet().subnet_id(&subnet).send().await),
        "DependencyViolation",
        "the instance's interface lingers after it is terminated"
    );
    assert_eq!(
        code(ec2.delete_security_group().group_id(&group).send().await),
        "DependencyViolation"
    );
    until(D * 6, "the interface to go", async || {
        ec2.delete_security_group().group_id(&group).send().await.is_ok()
    })
    .await;
    ec2.delete_subnet()
        .subnet_id(&subnet)
        .send()
        .await
        .unwrap_or_else(|e| panic!("free once the interface is gone: {e:?}"));

    // moto's own refusals, which sbx meets in the same deletes.
    let gateway = ec2
        .create_internet_gateway()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let gateway = gateway
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap_or_default()
        .to_owned();
    tokio::time::sleep(D).await;
    ec2.attach_internet_gateway()
        .internet_gateway_id(&gateway)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        code(
            ec2.delete_internet_gateway()
                .internet_gateway_id(&gateway)
                .send()
                .await
        ),
        "DependencyViolation",
        "an attached gateway"
    );
}

#[tokio::test]
async fn a_pending_instance_refuses_a_stop() {
    let aws = realistic(1).await;
    let ec2 = &aws.ec2;
    let subnet = visible_subnet(ec2).await;
    let id = instance(ec2, &subnet, None).await;
    // Past the new id's window (D), within the launch's pending (2·D).
    tokio::time::sleep(D * 6 / 5).await;
    assert_eq!(state(ec2, &id).await, "pending");
    assert_eq!(
        code(ec2.stop_instances().instance_ids(&id).send().await),
        "IncorrectInstanceState"
    );
    until(D * 4, "running", async || state(ec2, &id).await == "running").await;
    ec2.stop_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("a running instance stops: {e:?}"));
}

#[tokio::test]
async fn a_seeded_share_of_nat_gateways_fails_and_their_token_answers_the_failed_one() {
    let aws = realistic(7).await;
    let ec2 = &aws.ec2;
    let subnet = visible_subnet(ec2).await;
    let mut made = Vec::new();
    for n in 0..30 {
        let address = ec2
            .allocate_address()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let token = format!("nat-{n}");
        let nat = ec2
            .create_nat_gateway()
            .subnet_id(&subnet)
            .allocation_id(address.allocation_id().unwrap_or_default())
            .client_token(&token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let id = nat
            .nat_gateway()
            .and_then(|n| n.nat_gateway_id())
            .unwrap_or_default()
            .to_owned();
        made.push((token, id, address.allocation_id().unwrap_or_default().to_owned()));
    }
    tokio::time::sleep(D * 2).await;
    let described = ec2
        .describe_nat_gateways()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let failed: Vec<_> = described
        .nat_gateways()
        .iter()
        .filter(|n| n.state().map(|s| s.as_str()) == Some("failed"))
        .collect();
    let available = described
        .nat_gateways()
        .iter()
        .filter(|n| n.state().map(|s| s.as_str()) == Some("available"))
        .count();
    assert!(
        !failed.is_empty() && available > failed.len(),
        "{} failed, {available} available",
        failed.len()
    );
    assert!(
        failed
            .iter()
            .all(|n| n.failure_message().is_some_and(|m| !m.is_empty()))
    );

    let failed_id = failed[0].nat_gateway_id().unwrap_or_default();
    let (token, _, allocation) = made
        .iter()
        .find(|(_, id, _)| id == failed_id)
        .unwrap_or_else(|| panic!("{failed_id} was made here"));
    let again = ec2
        .create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(allocation)
        .client_token(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let again = again.nat_gateway();
    assert_eq!(
        again.and_then(|n| n.nat_gateway_id()),
        Some(failed_id),
        "the same token, the failed NAT"
    );
    assert_eq!(again.and_then(|n| n.state()).map(|s| s.as_str()), Some("failed"));
    ec2.create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(allocation)
        .client_token(format!("{token}-after"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("a failed NAT holds no address: {e:?}"));
}

#[tokio::test]
async fn account_creation_takes_a_while_and_a_seeded_share_fails() {
    let aws = realistic(3).await;
    let organizations = aws_sdk_organizations::Client::new(&aws.config);
    organizations
        .create_organization()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut requests = Vec::new();
    for n in 0..12 {
        let created = organizations
            .create_account()
            .account_name(format!("a{n}"))
            .email(format!("a{n}@example.com"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let status = created.create_account_status();
        assert_eq!(
            status.and_then(|s| s.state()).map(|s| s.as_str()),
            Some("IN_PROGRESS")
        );
        assert_eq!(status.and_then(|s| s.account_id()), None, "no account yet");
        let request = status.and_then(|s| s.id()).unwrap_or_default().to_owned();
        let described = organizations
            .describe_create_account_status()
            .create_account_request_id(&request)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            described
                .create_account_status()
                .and_then(|s| s.state())
                .map(|s| s.as_str()),
            Some("IN_PROGRESS")
        );
        requests.push(request);
    }
    let statuses = async || {
        let listed = organizations.list_create_account_status().send().await;
        let all = listed
            .map(|l| l.create_account_statuses().to_vec())
            .unwrap_or_default();
        // (The management account is listed too.)
        all.into_iter()
            .filter(|s| requests.iter().any(|r| Some(r.as_str()) == s.id()))
            .collect::<Vec<_>>()
    };
    until(D * 8, "every creation to end", async || {
        statuses()
            .await
            .iter()
            .all(|s| s.state().map(|s| s.as_str()) != Some("IN_PROGRESS"))
    })
    .await;
    let done = statuses().await;
    assert_eq!(done.len(), 12, "failed creations are still listed");
    let failed: Vec<_> = done
        .iter()
        .filter(|s| s.state().map(|s| s.as_str()) == Some("FAILED"))
        .collect();
    assert!(
        !failed.is_empty() && failed.len() < 12,
        "{} of 12 failed",
        failed.len()
    );
    assert!(
        failed
            .iter()
            .all(|s| s.failure_reason().map(|r| r.as_str()) == Some("ACCOUNT_LIMIT_EXCEEDED"))
    );
    let described = organizations
        .describe_create_account_status()
        .create_account_request_id(failed[0].id().unwrap_or_default())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        described
            .create_account_status()
            .and_then(|s| s.state())
            .map(|s| s.as_str()),
        Some("FAILED")
    );
    let accounts = organizations
        .list_accounts()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        accounts.accounts().len(),
        1 + 12 - failed.len(),
        "the management account and the created ones; a failed creation makes none"
    );
}

#[tokio::test]
async fn create_route_table_is_idempotent_by_its_client_token() {
    let aws = realistic(1).await;
    let ec2 = &aws.ec2;
    let vpc = vpc(ec2).await;
    tokio::time::sleep(D).await;
    let make = async || {
        ec2.create_route_table()
            .vpc_id(&vpc)
            .client_token("one-table")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(make().await, make().await);
}

#[tokio::test]
async fn a_new_instance_is_not_found_by_its_id_nor_terminated_until_aws_knows_it() {
    let aws = realistic(1).await;
    let ec2 = &aws.ec2;
    let subnet = visible_subnet(ec2).await;
    let id = instance(ec2, &subnet, None).await;
    assert_eq!(
        code(ec2.describe_instances().instance_ids(&id).send().await),
        "InvalidInstanceID.NotFound"
    );
    assert_eq!(
        code(ec2.terminate_instances().instance_ids(&id).send().await),
        "InvalidInstanceID.NotFound",
        "a terminate of an id AWS does not know yet is refused"
    );
    until(D * 4, "the instance to be known by its id", async || {
        !state(ec2, &id).await.is_empty()
    })
    .await;
    ec2.terminate_instances()
        .instance_ids(&id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("once known, it is terminated: {e:?}"));
}

#[tokio::test]
async fn a_new_accounts_quotas_refuse_instances_and_load_balancers_beyond_them() {
    let moto = MotoServer::start_with_quotas(0, Duration::ZERO, 1, "instances=1,load_balancers=1")
        .unwrap_or_else(|e| panic!("{e}"));
    let config = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let subnet = visible_subnet(&ec2).await;
    let first = instance(&ec2, &subnet, None).await;
    let second = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .subnet_id(&subnet)
        .send()
        .await;
    assert_eq!(code(second), "InstanceLimitExceeded");
    ec2.terminate_instances()
        .instance_ids(&first)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    instance(&ec2, &subnet, None).await;

    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let other = subnet_in(&ec2, &subnet).await;
    let create = |name: &'static str| {
        elb.create_load_balancer()
            .name(name)
            .subnets(&subnet)
            .subnets(&other)
            .send()
    };
    create("first").await.unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(code(create("second").await), "TooManyLoadBalancers");
}

/// A second subnet of `subnet`'s VPC, in another zone (a load balancer wants two).
async fn subnet_in(ec2: &aws_sdk_ec2::Client, subnet: &str) -> String {
    let vpc = ec2
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .subnets()
        .first()
        .and_then(|s| s.vpc_id())
        .unwrap_or_default()
        .to_owned();
    ec2.create_subnet()
        .vpc_id(vpc)
        .cidr_block("10.0.2.0/24")
        .availability_zone("us-east-1b")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .subnet()
        .and_then(|s| s.subnet_id())
        .unwrap_or_default()
        .to_owned()
}
