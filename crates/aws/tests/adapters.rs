//! The AWS adapters against a real moto server, through the ports the step handlers take:
//! ensuring twice makes one of each, deleting what is gone is Ok, and converging to nothing
//! leaves nothing. What exists is read back with plain SDK calls, not through the adapters.

use aws_sdk_ec2::types::Filter;
use sbx_aws::infra::{Converged, ProxySpec, Want};
use sbx_aws::ingress::Targets;
use sbx_aws::instances::Launch;
use sbx_aws::streaming::{StandIn, Streaming};
use sbx_aws::{
    AccountClients, Commands, ImageSharing, Infrastructure, Ingress, Networks, Owner, Provisioner,
    SharedInfrastructure, Vms,
};
use sbx_moto::MotoServer;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A tenant account on its own moto server, reached as the steps reach it: through the
/// provisioning role (moto's STS gives each account its own resources).
struct Account {
    /// Kept for its lifetime: the server stops when the account is dropped.
    _moto: MotoServer,
    id: String,
    /// For reading back what exists, with plain SDK calls.
    clients: AccountClients,
    /// The ports the handlers take.
    ports: Provisioner,
    infra: Infrastructure,
    /// How long the realistic moto keeps a new resource invisible (zero: plain moto).
    delay: Duration,
}

/// Calls `call` again while AWS has not caught up (`AwsError::NotYet`), as the state machines'
/// Retry does, with a deadline.
async fn settle<T>(mut call: impl AsyncFnMut() -> Result<T, sbx_aws::AwsError>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match call().await {
            Ok(value) => return value,
            Err(err @ sbx_aws::AwsError::NotYet { .. }) => {
                assert!(Instant::now() < deadline, "still not yet: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("{err}"),
        }
    }
}

impl Account {
    async fn new() -> Self {
        Self::with_delay(Duration::ZERO).await
    }

    /// An account whose moto keeps resources in their asynchronous states for `delay`.
    async fn with_delay(delay: Duration) -> Self {
        let moto = MotoServer::start_on(0, delay).unwrap_or_else(|e| panic!("moto: {e}"));
        let config = moto.sdk_config().await;
        let id = "100000000001".to_owned();
        let ports = Provisioner::new(config, "sbx-provisioning");
        let clients = ports.open(&id).await;
        let image = clients
            .ec2()
            .describe_images()
            .owners("amazon")
            .send()
            .await
            .ok()
            .and_then(|out| out.images().first().and_then(|i| i.image_id()).map(str::to_owned))
            .unwrap_or_else(|| panic!("moto has no image"));
        let infra = Infrastructure {
            accounts: ports.clone(),
            proxy: ProxySpec {
                image_id: image,
                instance_type: "t3.small".into(),
            },
            streaming: Streaming::StandIn(Arc::new(StandIn::default())),
        };
        Self {
            _moto: moto,
            id,
            clients,
            ports,
            infra,
            delay,
        }
    }

    /// The account's network, ensured through the port.
    /// Then waits until what it made is visible to every call.
    async fn network(&self) -> sbx_aws::network::AccountNetwork {
        let owner = self.account_owner();
        let network = settle(async || self.ports.ensure_account_network(&self.id, &owner).await).await;
        tokio::time::sleep(self.delay).await;
        network
    }

    fn account_owner(&self) -> Owner {
        Owner::Account {
            tenant: "acme".into(),
            account: self.id.clone(),
        }
    }

    async fn vpcs(&self) -> usize {
        let tagged = Filter::builder().name("tag:sbx:tenant").values("acme").build();
        let out = self.clients.ec2().describe_vpcs().filters(tagged).send().await;
        out.map(|o| o.vpcs().len())
            .unwrap_or_else(|e| panic!("DescribeVpcs: {e:?}"))
    }

    async fn subnets_of(&self, sandbox: &str) -> usize {
        let tagged = Filter::builder().name("tag:sbx:sandbox").values(sandbox).build();
        let out = self.clients.ec2().describe_subnets().filters(tagged).send().await;
        out.map(|o| o.subnets().len())
            .unwrap_or_else(|e| panic!("DescribeSubnets: {e:?}"))
    }

    async fn live_nat_gateways(&self) -> usize {
        let out = self.clients.ec2().describe_nat_gateways().send().await;
        let gateways = out.unwrap_or_else(|e| panic!("DescribeNatGateways: {e:?}"));
        gateways
            .nat_gateways()
            .iter()
            .filter(|nat| nat.state().is_some_and(|s| s.as_str() != "deleted"))
            .count()
    }

    async fn elastic_ips(&self) -> usize {
        let out = self.clients.ec2().describe_addresses().send().await;
        out.map(|o| o.addresses().len())
            .unwrap_or_else(|e| panic!("DescribeAddresses: {e:?}"))
    }

    async fn load_balancers(&self) -> usize {
        let out = self.clients.elb().describe_load_balancers().send().await;
        out.map(|o| o.load_balancers().len())
            .unwrap_or_else(|e| panic!("DescribeLoadBalancers: {e:?}"))
    }

    async fn target_groups(&self) -> usize {
        let out = self.clients.elb().describe_target_groups().send().await;
        out.map(|o| o.target_groups().len())
            .unwrap_or_else(|e| panic!("DescribeTargetGroups: {e:?}"))
    }

    async fn running_instances(&self) -> usize {
        let alive = Filter::builder()
            .name("instance-state-name")
            .values("pending")
            .values("running")
            .build();
        let out = self
            .clients
            .ec2()
            .describe_instances()
            .filters(alive)
            .send()
            .await;
        let out = out.unwrap_or_else(|e| panic!("DescribeInstances: {e:?}"));
        out.reservations().iter().map(|r| r.instances().len()).sum()
    }
}

/// Sandbox s1's own network in the account, made through the port once AWS lets it.
async fn s1_network(
    account: &Account,
    network: &sbx_aws::network::AccountNetwork,
) -> sbx_aws::network::SandboxNetwork {
    let s1 = sandbox("s1");
    settle(async || {
        account
            .ports
            .create_sandbox_network(&account.id, &s1, network, ("acme", "s1"))
            .await
    })
    .await
}

/// The launch of `owner`'s ACP machine into `net`, under the create's client token.
fn acp_launch<'a>(
    account: &'a Account,
    owner: &'a Owner,
    net: &'a sbx_aws::network::SandboxNetwork,
) -> Launch<'a> {
    Launch {
        owner,
        role: "acp",
        image_id: &account.infra.proxy.image_id,
        instance_type: "t3.medium",
        subnet_id: &net.subnet_id,
        security_group_id: &net.security_group_id,
        instance_profile: None,
        client_token: "s1-create-v1-acp",
    }
}

fn sandbox(id: &str) -> Owner {
    Owner::Sandbox {
        tenant: "acme".into(),
        sandbox: id.into(),
    }
}

/// A load balancer sends nothing to targets in a zone it is not enabled in: every sandbox
/// subnet is in a zone of the account's public subnets, where its load balancers are.
#[tokio::test]
async fn sandbox_subnets_are_in_the_load_balancers_zones() {
    let account = Account::new().await;
    let (ports, id) = (&account.ports, account.id.as_str());
    let network = account.network().await;
    let zone_of = async |subnets: Vec<String>| -> Vec<String> {
        let found = account
            .clients
            .ec2()
            .describe_subnets()
            .set_subnet_ids(Some(subnets))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        found
            .subnets()
            .iter()
            .filter_map(|s| s.availability_zone().map(str::to_owned))
            .collect()
    };
    let public = zone_of(network.public_subnets.clone()).await;
    assert_eq!(public.len(), 2, "{public:?}");
    let mut used = std::collections::BTreeSet::new();
    for n in 0..8 {
        let name = format!("z{n}");
        let net = ports
            .create_sandbox_network(id, &sandbox(&name), &network, ("acme", &name))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let zone = zone_of(vec![net.subnet_id]).await;
        assert!(
            zone.len() == 1 && public.contains(&zone[0]),
            "{name}'s subnet is in {zone:?}, the load balancers in {public:?}"
        );
        used.insert(zone[0].clone());
    }
    assert_eq!(used.len(), 2, "sandboxes spread over both zones: {used:?}");
}

#[tokio::test]
async fn ensuring_the_network_twice_makes_one_and_deleting_a_gone_one_is_ok() {
    let account = Account::new().await;
    let (ports, id, owner) = (&account.ports, account.id.as_str(), account.account_owner());
    let first = ports
        .ensure_account_network(id, &owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = ports
        .ensure_account_network(id, &owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, again);
    assert_eq!(account.vpcs().await, 1, "ensuring twice makes one VPC");
    // The public subnets are in two distinct zones the account reports, not assumed letters.
    let zones = sbx_aws::network::availability_zones(account.clients.ec2())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let subnets = account
        .clients
        .ec2()
        .describe_subnets()
        .set_subnet_ids(Some(first.public_subnets.clone()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let used: std::collections::BTreeSet<String> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone().map(str::to_owned))
        .collect();
    assert_eq!(used.len(), 2, "{used:?}");
    assert!(
        used.iter().all(|zone| zones.contains(zone)),
        "{used:?} not in {zones:?}"
    );
    assert_eq!(
        ports.account_network(id, &owner).await.ok().flatten(),
        Some(first.clone())
    );

    let s1 = sandbox("s1");
    let made = ports
        .create_sandbox_network(id, &s1, &first, ("acme", "s1"))
        .await;
    let remade = ports
        .create_sandbox_network(id, &s1, &first, ("acme", "s1"))
        .await;
    assert!(made.is_ok(), "{made:?}");
    assert_eq!(made.ok(), remade.ok());
    assert_eq!(
        account.subnets_of("s1").await,
        1,
        "creating twice makes one subnet"
    );

    for _ in 0..2 {
        let deleted = ports.delete_sandbox_network(id, &s1).await;
        assert!(deleted.is_ok(), "{deleted:?}");
    }
    assert_eq!(account.subnets_of("s1").await, 0);
    let never = ports.delete_sandbox_network(id, &sandbox("never-made")).await;
    assert!(never.is_ok(), "deleting what never existed is Ok: {never:?}");
}

/// What the SDK's repeat of a create whose answer was lost leaves: one more of the account's
/// VPCs, internet gateways and route tables, tagged like the first. Ensuring takes one of each
/// (the same every reader takes) and deletes the others.
#[tokio::test]
async fn duplicates_a_repeated_create_made_are_deleted_and_one_is_used() {
    use aws_sdk_ec2::types::ResourceType;
    let account = Account::new().await;
    let (ports, id, owner) = (&account.ports, account.id.as_str(), account.account_owner());
    let ec2 = account.clients.ec2();
    let vpc = || {
        ec2.create_vpc()
            .cidr_block(sbx_aws::network::VPC_CIDR)
            .tag_specifications(owner.ec2_spec(ResourceType::Vpc, "vpc"))
            .send()
    };
    let mut made: Vec<String> = Vec::new();
    for _ in 0..2 {
        let out = vpc().await.unwrap_or_else(|e| panic!("CreateVpc: {e:?}"));
        made.extend(out.vpc().and_then(|v| v.vpc_id()).map(str::to_owned));
    }
    made.sort();
    let first = ports
        .ensure_account_network(id, &owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.vpc_id, made[0], "the lowest of the two is used");
    assert_eq!(account.vpcs().await, 1, "the other VPC is deleted");

    for _ in 0..2 {
        let igw = ec2
            .create_internet_gateway()
            .tag_specifications(owner.ec2_spec(ResourceType::InternetGateway, "igw"))
            .send()
            .await;
        assert!(igw.is_ok(), "{igw:?}");
    }
    let table = ec2
        .create_route_table()
        .vpc_id(&first.vpc_id)
        .tag_specifications(owner.ec2_spec(ResourceType::RouteTable, "sandbox-routes"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRouteTable: {e:?}"));
    let extra = table
        .route_table()
        .and_then(|t| t.route_table_id())
        .unwrap_or_default();
    let again = ports
        .ensure_account_network(id, &owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let expected = first.sandbox_routes.clone().min(extra.to_owned());
    assert_eq!(again.sandbox_routes, expected);
    assert_eq!(
        ports.account_network(id, &owner).await.ok().flatten(),
        Some(again.clone()),
        "readers take what the ensure built on"
    );
    let tagged = |role: &str| Filter::builder().name("tag:sbx:role").values(role).build();
    let gateways = ec2
        .describe_internet_gateways()
        .filters(tagged("igw"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(gateways.internet_gateways().len(), 1, "{gateways:?}");
    let tables = ec2
        .describe_route_tables()
        .filters(tagged("sandbox-routes"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(tables.route_tables().len(), 1, "{tables:?}");
}

#[tokio::test]
async fn infrastructure_converges_up_once_and_down_to_nothing() {
    let account = Account::new().await;
    let (id, owner) = (account.id.as_str(), account.account_owner());
    let network = account.network().await;
    let all = Want {
        base: true,
        nlb: true,
        fleet: true,
    };
    let infra = &account.infra;
    let up = infra.converge(id, &owner, Some(&network), all, "t-1").await;
    assert!(
        up.as_ref()
            .is_ok_and(|done| !done.changes.is_empty() && done.settled()),
        "{up:?}"
    );
    let again = infra.converge(id, &owner, Some(&network), all, "t-1").await;
    assert_eq!(
        again.ok(),
        Some(Converged::default()),
        "converging again changes nothing"
    );
    assert_eq!(account.live_nat_gateways().await, 1);
    assert_eq!(account.load_balancers().await, 2, "the ALB and the NLB");
    assert_eq!(account.running_instances().await, 2, "the two proxies");

    // The stand-in fleet takes one call to stop, as AppStream takes minutes.
    let down = infra.converge(id, &owner, None, Want::default(), "t-2").await;
    assert!(
        down.as_ref().is_ok_and(|done| done.waiting == ["fleet stopping"]),
        "{down:?}"
    );
    let down = infra.converge(id, &owner, None, Want::default(), "t-2").await;
    assert!(down.as_ref().is_ok_and(Converged::settled), "{down:?}");
    assert_eq!(account.live_nat_gateways().await, 0, "no NAT gateway is left");
    assert_eq!(account.elastic_ips().await, 0, "no Elastic IP is left");
    assert_eq!(account.load_balancers().await, 0);
    assert_eq!(account.running_instances().await, 0);
    let empty = infra.converge(id, &owner, None, Want::default(), "t-3").await;
    assert_eq!(
        empty.ok(),
        Some(Converged::default()),
        "converging nothing to nothing is Ok"
    );
}

#[tokio::test]
async fn releasing_removes_a_spare_internet_gateway_and_keeps_the_attached_one() {
    let account = Account::new().await;
    let (id, owner) = (account.id.as_str(), account.account_owner());
    account.network().await;
    // A repeat of the gateway's create that a try died before removing: tagged, unattached.
    let spare = account
        .clients
        .ec2()
        .create_internet_gateway()
        .tag_specifications(owner.ec2_spec(aws_sdk_ec2::types::ResourceType::InternetGateway, "igw"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap_or_default()
        .to_owned();
    let down = account
        .infra
        .converge(id, &owner, None, Want::default(), "t-1")
        .await;
    assert_eq!(
        down.map(|d| d.changes).ok(),
        Some(vec![format!("delete spare gateway {spare}")])
    );
    let left = account
        .clients
        .ec2()
        .describe_internet_gateways()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let left: Vec<bool> = left
        .internet_gateways()
        .iter()
        .map(|g| !g.attachments().is_empty())
        .collect();
    assert_eq!(left, [true], "only the VPC's own gateway is left");
}

/// The account's internet gateways, each with whether it is attached, once AWS shows every one
/// (after the visibility window).
async fn all_gateways(account: &Account) -> Vec<(String, bool)> {
    tokio::time::sleep(account.delay).await;
    let tagged = Filter::builder().name("tag:sbx:role").values("igw").build();
    let found = account
        .clients
        .ec2()
        .describe_internet_gateways()
        .filters(tagged)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    found
        .internet_gateways()
        .iter()
        .map(|g| {
            (
                g.internet_gateway_id().unwrap_or_default().to_owned(),
                !g.attachments().is_empty(),
            )
        })
        .collect()
}

/// A create restarted inside AWS's visibility window: the try that died had made the account's
/// internet gateway a moment before, which no describe shows yet, so the restarted try makes
/// and attaches its own. Once AWS shows them, the gateways nothing is attached to are spares:
/// the step's retries (or the next sandbox's create) delete them, and the account is left with
/// one gateway, on its VPC.
#[tokio::test]
async fn a_create_restarted_inside_the_visibility_window_removes_the_extra_gateway() {
    use aws_sdk_ec2::types::ResourceType;
    let account = Account::with_delay(Duration::from_millis(800)).await;
    let (id, owner) = (account.id.as_str(), account.account_owner());
    let ec2 = account.clients.ec2();
    // The try that died: its VPC, visible by now, and the gateway it made just before it died.
    ec2.create_vpc()
        .cidr_block(sbx_aws::network::VPC_CIDR)
        .tag_specifications(owner.ec2_spec(ResourceType::Vpc, "vpc"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateVpc: {e:?}"));
    tokio::time::sleep(account.delay).await;
    let dead = ec2
        .create_internet_gateway()
        .tag_specifications(owner.ec2_spec(ResourceType::InternetGateway, "igw"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
        .unwrap_or_default()
        .to_owned();

    // The restart, at once: inside the window. Its first try cannot see the dead try's
    // gateway, makes one of its own, and may find AWS not caught up with that one either.
    let first = account.ports.ensure_account_network(id, &owner).await;
    assert!(
        matches!(first, Ok(_) | Err(sbx_aws::AwsError::NotYet { .. })),
        "{first:?}"
    );
    let made = all_gateways(&account).await;
    assert!(
        made.len() >= 2 && made.iter().any(|(g, _)| *g == dead),
        "the restarted try made a gateway beside the dead try's: {made:?}"
    );
    let network = settle(async || account.ports.ensure_account_network(id, &owner).await).await;

    // After the window, the next ensure finds the spares and deletes them.
    let again = settle(async || account.ports.ensure_account_network(id, &owner).await).await;
    assert_eq!(again, network, "the network is the same one");
    let left = all_gateways(&account).await;
    assert_eq!(left.len(), 1, "only the VPC's own gateway is left: {left:?}");
    assert!(left[0].1, "and it is attached: {left:?}");
}

#[tokio::test]
async fn routes_register_once_and_deregister_twice() {
    let account = Account::new().await;
    let (ports, id, owner) = (&account.ports, account.id.as_str(), account.account_owner());
    let network = account.network().await;
    let base = Want {
        base: true,
        nlb: true,
        fleet: false,
    };
    let up = account
        .infra
        .converge(id, &owner, Some(&network), base, "t-1")
        .await;
    assert!(up.is_ok(), "{up:?}");
    let s1 = sandbox("s1");
    let net = ports
        .create_sandbox_network(id, &s1, &network, ("acme", "s1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut vms = Vec::new();
    for role in ["acp", "ocp"] {
        let launch = Launch {
            owner: &s1,
            role,
            image_id: &account.infra.proxy.image_id,
            instance_type: "t3.medium",
            subnet_id: &net.subnet_id,
            security_group_id: &net.security_group_id,
            instance_profile: None,
            client_token: &format!("s1-create-v1-{role}"),
        };
        let first = ports.launch(id, &launch).await;
        let again = ports.launch(id, &launch).await;
        assert!(first.is_ok(), "{first:?}");
        assert_eq!(
            first.as_ref().ok(),
            again.as_ref().ok(),
            "launching twice launches once"
        );
        vms.push(first.unwrap_or_default());
    }
    let targets = Targets {
        owner: &s1,
        tenant: "acme",
        sandbox: "s1",
        vpc_id: &network.vpc_id,
        host: "s1.acme.sbx.test",
        http: &vms[1],
        amq: Some(&vms[0]),
    };
    let before = account.target_groups().await;
    let first = ports.register(id, &targets).await;
    let again = ports.register(id, &targets).await;
    assert!(first.is_ok(), "{first:?}");
    assert_eq!(first.ok(), again.ok(), "registering twice finds the first routes");
    assert_eq!(
        account.target_groups().await,
        before + 2,
        "an HTTP and an AMQ target group"
    );
    for _ in 0..2 {
        let gone = ports.deregister(id, "acme", "s1", "s1.acme.sbx.test").await;
        assert!(gone.is_ok(), "{gone:?}");
    }
    assert_eq!(account.target_groups().await, before);
}

#[tokio::test]
async fn images_are_shared_once_and_a_missing_one_is_named() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("moto: {e}"));
    let management = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
    let registered = management.register_image().name("sbx-acp-test").send().await;
    let image = registered
        .ok()
        .and_then(|out| out.image_id().map(str::to_owned))
        .unwrap_or_else(|| panic!("RegisterImage"));
    for _ in 0..2 {
        let shared = management.share(&[&image], "100000000001").await;
        assert!(shared.is_ok(), "{shared:?}");
    }
    let attribute = management
        .describe_image_attribute()
        .image_id(&image)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeImageAttribute: {e:?}"));
    let accounts: Vec<_> = attribute
        .launch_permissions()
        .iter()
        .filter_map(|p| p.user_id())
        .collect();
    assert_eq!(
        accounts,
        ["100000000001"],
        "sharing twice gives one launch permission"
    );
    let missing = management.share(&["ami-0000000000000dead"], "100000000001").await;
    assert!(
        matches!(&missing, Err(sbx_aws::AwsError::ImageNotFound { image_id, .. }) if image_id == "ami-0000000000000dead"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn an_install_command_is_sent_to_the_instance_and_watched() {
    let account = Account::new().await;
    let (ports, id) = (&account.ports, account.id.as_str());
    let network = account.network().await;
    let s1 = sandbox("s1");
    let net = settle(async || {
        ports
            .create_sandbox_network(id, &s1, &network, ("acme", "s1"))
            .await
    })
    .await;
    let launch = Launch {
        owner: &s1,
        role: "ocp",
        image_id: &account.infra.proxy.image_id,
        instance_type: "t3.medium",
        subnet_id: &net.subnet_id,
        security_group_id: &net.security_group_id,
        instance_profile: None,
        client_token: "s1-install-v1-ocp",
    };
    let ocp = ports.launch(id, &launch).await.unwrap_or_else(|e| panic!("{e}"));
    let constellations = vec!["payments".to_owned()];
    let command = ports
        .install(id, &ocp, "s1", &constellations)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sent = account
        .clients
        .ssm()
        .list_commands()
        .command_id(&command)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListCommands: {e:?}"));
    let targets: Vec<_> = sent.commands().iter().flat_map(|c| c.instance_ids()).collect();
    assert_eq!(targets, [&ocp], "the command goes to the OCP instance");
    let progress = ports.progress(id, &command, &ocp).await;
    assert!(
        matches!(
            progress,
            Ok(sbx_aws::commands::Progress::Succeeded | sbx_aws::commands::Progress::Running)
        ),
        "{progress:?}"
    );
}

/// The default route of the account's sandbox route table: the NAT gateway it goes to.
async fn sandbox_route(account: &Account, table: &str) -> Option<String> {
    let out = account
        .clients
        .ec2()
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeRouteTables: {e:?}"));
    out.route_tables()
        .iter()
        .flat_map(|t| t.routes())
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .and_then(|r| r.nat_gateway_id().map(str::to_owned))
}

/// Converges until nothing is left to wait for, as the state machine's loop does.
async fn converge_until_settled(
    account: &Account,
    network: Option<&sbx_aws::network::AccountNetwork>,
    want: Want,
) -> Vec<String> {
    let owner = account.account_owner();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut changes = Vec::new();
    loop {
        let done = settle(async || {
            account
                .infra
                .converge(&account.id, &owner, network, want, "t-wait")
                .await
        })
        .await;
        changes.extend(done.changes.clone());
        if done.settled() {
            return changes;
        }
        assert!(Instant::now() < deadline, "still waiting for {:?}", done.waiting);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn infrastructure_waits_for_the_nat_as_aws_makes_it_wait() {
    let account = Account::with_delay(Duration::from_millis(400)).await;
    let (id, owner) = (account.id.as_str(), account.account_owner());
    let network = account.network().await;
    let base = Want {
        base: true,
        ..Want::default()
    };
    let first = account
        .infra
        .converge(id, &owner, Some(&network), base, "t-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.waiting, ["nat pending"], "{first:?}");
    assert_eq!(
        sandbox_route(&account, &network.sandbox_routes).await,
        None,
        "no route goes to a NAT that is not available yet"
    );
    let later = converge_until_settled(&account, Some(&network), base).await;
    assert!(
        later.contains(&"route sandboxes through nat".to_owned()),
        "{later:?}"
    );
    let route = sandbox_route(&account, &network.sandbox_routes).await;
    assert!(
        route.is_some_and(|nat| nat.starts_with("nat-")),
        "the sandboxes route out through the NAT"
    );

    let down = account
        .infra
        .converge(id, &owner, None, Want::default(), "t-2")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(down.waiting, ["nat deleting"], "{down:?}");
    assert_eq!(
        sandbox_route(&account, &network.sandbox_routes).await,
        None,
        "the route goes first"
    );
    assert_eq!(
        account.elastic_ips().await,
        1,
        "the address is kept while its NAT is deleting (AWS refuses to release it)"
    );
    let rest = converge_until_settled(&account, None, Want::default()).await;
    // The outcome, not the order AWS settles in: a proxy a describe did not show yet to the
    // first release is deleted by a later one.
    assert!(rest.contains(&"release nat address".to_owned()), "{rest:?}");
    let proxies_deleted = down
        .changes
        .iter()
        .chain(&rest)
        .filter(|change| change.as_str() == "delete proxies")
        .count();
    assert!(proxies_deleted >= 1, "{:?} then {rest:?}", down.changes);
    assert_eq!(account.running_instances().await, 0);
    assert_eq!(account.elastic_ips().await, 0);
    assert_eq!(account.live_nat_gateways().await, 0);
}

/// The same client token answers the NAT gateway it made even once that one is deleted (as it
/// answers a failed one): a later converge under the same token makes another, rather than
/// waiting for the deleted one to become available.
#[tokio::test]
async fn a_token_whose_nat_gateway_was_deleted_makes_another() {
    let account = Account::with_delay(Duration::from_millis(200)).await;
    let network = account.network().await;
    let base = Want {
        base: true,
        ..Want::default()
    };
    converge_until_settled(&account, Some(&network), base).await;
    let first = sandbox_route(&account, &network.sandbox_routes).await;
    assert!(first.is_some(), "routed through the first NAT");
    converge_until_settled(&account, None, Want::default()).await;
    assert_eq!(account.live_nat_gateways().await, 0);
    converge_until_settled(&account, Some(&network), base).await;
    let second = sandbox_route(&account, &network.sandbox_routes).await;
    assert!(second.is_some() && second != first, "{first:?} then {second:?}");
    assert_eq!(account.live_nat_gateways().await, 1);
}

#[tokio::test]
async fn half_made_groups_and_subnets_are_completed() {
    let account = Account::new().await;
    let (ports, id) = (&account.ports, account.id.as_str());
    let network = account.network().await;
    // A crash between CreateSecurityGroup and AuthorizeSecurityGroupIngress: a group without rules.
    let group = account
        .clients
        .ec2()
        .create_security_group()
        .group_name(sbx_aws::tags::short_name("sbx", "acme", "s9"))
        .description("half-made")
        .vpc_id(&network.vpc_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .group_id()
        .map(str::to_owned)
        .unwrap_or_default();
    let s9 = Owner::Sandbox {
        tenant: "acme".into(),
        sandbox: "s9".into(),
    };
    let made = ports
        .create_sandbox_network(id, &s9, &network, ("acme", "s9"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made.security_group_id, group, "the half-made group is used");
    let rules = account
        .clients
        .ec2()
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let rules = rules
        .security_groups()
        .first()
        .map(|g| g.ip_permissions().len())
        .unwrap_or_default();
    assert!(rules >= 3, "its rules were added: {rules}");
    let tables = account
        .clients
        .ec2()
        .describe_route_tables()
        .filters(
            Filter::builder()
                .name("association.subnet-id")
                .values(&made.subnet_id)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let tables: Vec<_> = tables
        .route_tables()
        .iter()
        .filter_map(|t| t.route_table_id())
        .collect();
    assert_eq!(
        tables,
        [network.sandbox_routes.as_str()],
        "the subnet routes through the sandbox table"
    );
}

#[tokio::test]
async fn ssm_reaches_only_an_instance_with_its_profile_and_a_route_out() {
    let account = Account::with_delay(Duration::from_millis(200)).await;
    let (ports, id) = (&account.ports, account.id.as_str());
    // moto's AssumeRole opens the account whatever the role's name.
    let profile = sbx_aws::organizations::bootstrap(ports, id, "sbx-provisioning", "123456789012").await;
    assert!(profile.is_ok(), "{profile:?}");
    let network = account.network().await;
    let base = Want {
        base: true,
        ..Want::default()
    };
    let s1 = sandbox("s1");
    let net = settle(async || {
        ports
            .create_sandbox_network(id, &s1, &network, ("acme", "s1"))
            .await
    })
    .await;
    tokio::time::sleep(account.delay).await;
    let launch = |role: &'static str, profile: Option<&'static str>| Launch {
        owner: &s1,
        role,
        image_id: &account.infra.proxy.image_id,
        instance_type: "t3.medium",
        subnet_id: &net.subnet_id,
        security_group_id: &net.security_group_id,
        instance_profile: profile,
        client_token: if role == "acp" {
            "ssm-reach-acp"
        } else {
            "ssm-reach-ocp"
        },
    };
    let bare = settle(async || ports.launch(id, &launch("acp", None)).await).await;
    let ocp = settle(async || {
        ports
            .launch(id, &launch("ocp", Some(sbx_aws::instances::INSTANCE_PROFILE)))
            .await
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let no_route = ports.install(id, &ocp, "s1", &["payments".to_owned()]).await;
    assert!(
        matches!(&no_route, Err(e) if e.has_code(&["InvalidInstanceId"])),
        "before the NAT, the agent cannot register: {no_route:?}"
    );
    converge_until_settled(&account, Some(&network), base).await;
    // Once its agent has registered (a while after the instance is running).
    settle(async || ports.install(id, &ocp, "s1", &["payments".to_owned()]).await).await;
    let bare = ports.install(id, &bare, "s1", &["payments".to_owned()]).await;
    assert!(
        matches!(&bare, Err(e) if e.has_code(&["InvalidInstanceId"])),
        "without an instance profile, SSM does not know the instance: {bare:?}"
    );
}

/// Polls `find` (through the port) until the sandbox's instance is in `state`, with a deadline.
async fn until_state(
    account: &Account,
    owner: &Owner,
    remaining: bool,
    state: Option<sbx_aws::instances::InstanceState>,
) -> Vec<sbx_aws::instances::Vm> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let vms = if remaining {
            account.ports.remaining(&account.id, owner).await
        } else {
            account.ports.find(&account.id, owner).await
        }
        .unwrap_or_else(|e| panic!("{e}"));
        let reached = match &state {
            Some(state) => vms.iter().all(|vm| &vm.state == state) && !vms.is_empty(),
            None => vms.is_empty(),
        };
        if reached {
            return vms;
        }
        assert!(Instant::now() < deadline, "still {vms:?}, not {state:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn instances_launch_once_per_token_and_go_through_their_states() {
    use sbx_aws::instances::InstanceState;
    // AWS's asynchronous states, as the realistic moto keeps them for a moment: long enough
    // that a loaded machine still reads a shutting-down instance as shutting down.
    let account = Account::with_delay(Duration::from_secs(1)).await;
    let (ports, id) = (&account.ports, account.id.as_str());
    let network = account.network().await;
    let s1 = sandbox("s1");
    let net = s1_network(&account, &network).await;
    let launch = acp_launch(&account, &s1, &net);
    let first = settle(async || ports.launch(id, &launch).await).await;
    let again = ports.launch(id, &launch).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, again, "a repeated launch is the same instance");
    // Describes show a new instance after a moment; it is still pending then.
    tokio::time::sleep(account.delay).await;
    let found = ports.find(id, &s1).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].state, InstanceState::Pending, "{found:?}");
    until_state(&account, &s1, false, Some(InstanceState::Running)).await;

    ports
        .stop(id, std::slice::from_ref(&first))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stopping = ports.find(id, &s1).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stopping[0].state, InstanceState::Stopping);
    assert!(stopping[0].state.is_settling());
    until_state(&account, &s1, false, Some(InstanceState::Stopped)).await;

    ports
        .start(id, std::slice::from_ref(&first))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    until_state(&account, &s1, false, Some(InstanceState::Running)).await;

    ports
        .terminate(id, std::slice::from_ref(&first))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Shutting down: gone for `find`, still there for `remaining` (it holds the subnet).
    assert!(
        ports
            .find(id, &s1)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    let leaving = ports.remaining(id, &s1).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        leaving.iter().map(|vm| vm.state.clone()).collect::<Vec<_>>(),
        [InstanceState::ShuttingDown]
    );
    until_state(&account, &s1, true, None).await;
    // Terminating what is gone is Ok.
    ports
        .terminate(id, &[first])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn the_inventory_names_what_an_account_holds_and_what_aws_is_still_removing() {
    use sbx_aws::Inventory;
    use sbx_aws::instances::InstanceState;
    use sbx_aws::inventory::{LeftoverKind, LeftoverState};
    let account = Account::with_delay(Duration::from_millis(300)).await;
    let (ports, id) = (&account.ports, account.id.as_str());
    let network = account.network().await;
    // The account network alone is no leftover.
    let empty = account
        .infra
        .leftovers(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(empty, [], "an account with only its network is empty");

    let s1 = sandbox("s1");
    let net = settle(async || {
        ports
            .create_sandbox_network(id, &s1, &network, ("acme", "s1"))
            .await
    })
    .await;
    let launch = Launch {
        owner: &s1,
        role: "ocp",
        image_id: &account.infra.proxy.image_id,
        instance_type: "t3.medium",
        subnet_id: &net.subnet_id,
        security_group_id: &net.security_group_id,
        instance_profile: None,
        client_token: "s1-create-v1-ocp",
    };
    let vm = settle(async || ports.launch(id, &launch).await).await;
    until_state(&account, &s1, false, Some(InstanceState::Running)).await;
    let left = account
        .infra
        .leftovers(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<LeftoverKind> = left.iter().map(|l| l.kind).collect();
    assert!(kinds.contains(&LeftoverKind::Subnet), "{left:?}");
    assert!(kinds.contains(&LeftoverKind::SecurityGroup), "{left:?}");
    let instance = left
        .iter()
        .find(|l| l.kind == LeftoverKind::Instance)
        .unwrap_or_else(|| panic!("the instance is left: {left:?}"));
    assert_eq!(instance.id, vm);
    assert_eq!(
        instance.state,
        Some(LeftoverState::Instance(InstanceState::Running))
    );
    assert!(!instance.is_settling());
    assert_eq!(instance.to_string(), format!("instance {vm} (running)"));

    // Terminated, it is first what AWS is still removing, then gone.
    ports
        .terminate(id, std::slice::from_ref(&vm))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let left = account
        .infra
        .leftovers(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let instance = left.iter().find(|l| l.kind == LeftoverKind::Instance);
    assert!(
        instance.is_some_and(|l| l.is_settling()),
        "shutting down is settling: {left:?}"
    );
    until_state(&account, &s1, true, None).await;
    // Its network interface lets go of the subnet and group a while after.
    settle(async || ports.delete_sandbox_network(id, &s1).await).await;
    let left = account
        .infra
        .leftovers(id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(left, [], "nothing is left once the sandbox is gone");
}

/// Puts one datapoint of `value` at `at` into the account's CloudWatch, as the service that
/// owns the metric would.
async fn put_metric(
    account: &Account,
    namespace: &str,
    name: &str,
    dimension: (&str, &str),
    value: f64,
    at: chrono::DateTime<chrono::Utc>,
) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let datum = MetricDatum::builder()
        .metric_name(name)
        .dimensions(Dimension::builder().name(dimension.0).value(dimension.1).build())
        .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_millis(
            at.timestamp_millis(),
        ))
        .value(value)
        .build();
    aws_sdk_cloudwatch::Client::new(&account.clients.config)
        .put_metric_data()
        .namespace(namespace)
        .metric_data(datum)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutMetricData: {e:?}"));
}

/// The idle stop's reading through the port, against CloudWatch as the services fill it: no
/// data is unknown, a quiet CPU reported for the whole window is idle, and AMQ flows on the
/// account's NLB or sessions on its fleet are use of the sandboxes that have them, and of no
/// other.
#[tokio::test]
async fn a_sandboxs_use_is_read_from_its_cpu_and_its_accounts_nlb_and_fleet() {
    use sbx_aws::Activity;
    use sbx_aws::activity::{Shared, Use};
    let account = Account::new().await;
    let (ports, id) = (&account.ports, account.id.as_str());
    let network = account.network().await;
    converge_until_settled(
        &account,
        Some(&network),
        Want {
            base: true,
            nlb: true,
            fleet: false,
        },
    )
    .await;
    let s1 = sandbox("s1");
    let net = s1_network(&account, &network).await;
    let launch = acp_launch(&account, &s1, &net);
    let instance = settle(async || ports.launch(id, &launch).await).await;
    let (to, plain, amq, streaming) = (
        chrono::Utc::now(),
        Shared::default(),
        Shared {
            amq: true,
            smart_client: false,
        },
        Shared {
            amq: false,
            smart_client: true,
        },
    );
    let from = to - chrono::Duration::minutes(30);
    let read = async |shared| {
        ports
            .sandbox_use(id, &s1, shared, from, to)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };

    assert!(
        matches!(read(plain).await, Use::Unknown(_)),
        "nothing reported yet"
    );
    for minutes in (0..45).step_by(5) {
        let at = to - chrono::Duration::minutes(minutes);
        put_metric(
            &account,
            "AWS/EC2",
            "CPUUtilization",
            ("InstanceId", &instance),
            1.0,
            at,
        )
        .await;
    }
    assert_eq!(read(plain).await, Use::Idle, "a quiet CPU, reported throughout");

    // A connection to some sandbox's AMQ, twelve minutes ago.
    let nlb = account
        .clients
        .elb()
        .describe_load_balancers()
        .names(sbx_aws::infra::NLB_NAME)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let arn = nlb.load_balancers()[0].load_balancer_arn().unwrap_or_default();
    let dimension = arn
        .split_once(":loadbalancer/")
        .map(|(_, d)| d)
        .unwrap_or_default();
    let flows_at = to - chrono::Duration::minutes(12);
    put_metric(
        &account,
        "AWS/NetworkELB",
        "ActiveFlowCount",
        ("LoadBalancer", dimension),
        3.0,
        flows_at,
    )
    .await;
    let busy = read(amq).await;
    assert!(
        matches!(busy, Use::Busy(at) if at <= flows_at && flows_at - at < chrono::Duration::minutes(1)),
        "{busy:?}"
    );
    assert_eq!(
        read(plain).await,
        Use::Idle,
        "a sandbox without AMQ is not used by it"
    );

    // A streaming session on the account's fleet.
    put_metric(
        &account,
        "AWS/AppStream",
        "InUseCapacity",
        ("Fleet", sbx_aws::streaming::FLEET),
        1.0,
        to - chrono::Duration::minutes(3),
    )
    .await;
    assert!(matches!(read(streaming).await, Use::Busy(_)));
    assert_eq!(read(plain).await, Use::Idle);
}
