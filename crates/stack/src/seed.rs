//! What the local AWS starts with: the tables, the management account's machine images (ACP,
//! OCP, proxy), an organization with the units accounts move between, and a pool of customer
//! accounts made in it with CreateAccount, as the pool's growth makes them. Seeding an endpoint
//! that was seeded before keeps what is there.

use crate::StackError;
use aws_config::SdkConfig;
use sbx_aws::Provisioner;
use sbx_aws::organizations::{CreationState, Organization, Units};
use sbx_steps::Images;
use sbx_store::{AccountStore, DynamoStore, StoreConfig, TableNames};

/// The provisioning role's name in every customer account.
pub const PROVISIONING_ROLE: &str = "sbx-provisioning";

/// The organizational units, by name, in the order of [`Units`]' fields.
const UNITS: [&str; 4] = ["Pool", "Customers", "Expired", "Quarantine"];
/// New accounts' email domain.
pub const EMAIL_DOMAIN: &str = "sbx.localhost";

#[derive(Debug, Clone)]
pub struct Seed {
    pub images: Images,
    pub accounts: Vec<String>,
    pub organization: sbx_aws::organizations::Organization,
}

pub(crate) async fn seed(
    config: &SdkConfig,
    tables: &TableNames,
    pool_size: u32,
) -> Result<Seed, StackError> {
    let dynamo = sbx_transient::client!(aws_sdk_dynamodb, config);
    sbx_store::schema::create_tables(&dynamo, tables)
        .await
        .map_err(|e| StackError::Seed(e.to_string()))?;

    let ec2 = sbx_transient::client!(aws_sdk_ec2, config);
    let (acp, ocp, proxy) = tokio::try_join!(
        image(&ec2, "sbx-acp"),
        image(&ec2, "sbx-ocp"),
        image(&ec2, "sbx-proxy"),
    )?;
    let images = Images { acp, ocp, proxy };

    let store = DynamoStore::new(dynamo, StoreConfig::new(tables.clone()));
    let organization = organization(config).await?;
    let bootstrap = Provisioner::new(config.clone(), sbx_aws::organizations::BOOTSTRAP_ROLE);
    // Each account is made ready on its own, all at once: its role, its unit, the pool.
    let ready = |account_id: String| {
        let (bootstrap, organization, store) = (&bootstrap, &organization, &store);
        async move {
            sbx_aws::organizations::bootstrap(
                bootstrap,
                &account_id,
                PROVISIONING_ROLE,
                crate::MANAGEMENT_ACCOUNT,
            )
            .await
            .map_err(|e| StackError::Seed(format!("bootstrap of {account_id}: {e}")))?;
            organization
                .place(&account_id, &organization.units.pool)
                .await
                .map_err(|e| StackError::Seed(e.to_string()))?;
            store
                .add_to_pool(&account_id)
                .await
                .map_err(|e| StackError::Seed(e.to_string()))?;
            Ok::<_, StackError>(account_id)
        }
    };
    let accounts = futures::future::try_join_all(
        created_accounts(&organization, pool_size)
            .await?
            .into_iter()
            .map(ready),
    )
    .await?;
    tracing::info!(pool = accounts.len(), ?images, "local AWS seeded");
    Ok(Seed {
        images,
        accounts,
        organization,
    })
}

/// The organization of the management account, with its units; made now unless it exists.
async fn organization(config: &SdkConfig) -> Result<Organization, StackError> {
    let seed = |what: &str, e: &dyn std::fmt::Debug| StackError::Seed(format!("{what}: {e:?}"));
    let client = sbx_transient::client!(aws_sdk_organizations, config);
    if let Err(err) = client.describe_organization().send().await {
        if !err
            .as_service_error()
            .is_some_and(|e| e.is_aws_organizations_not_in_use_exception())
        {
            return Err(seed("DescribeOrganization", &err));
        }
        let created = client
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // An earlier try made it and its answer was lost.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_already_in_organization_exception()) => {}
            Err(err) => return Err(seed("CreateOrganization", &err)),
        }
    }
    let roots = client
        .list_roots()
        .send()
        .await
        .map_err(|e| seed("ListRoots", &e))?;
    let root = roots
        .roots()
        .first()
        .and_then(|r| r.id())
        .ok_or_else(|| StackError::Seed("the organization has no root".into()))?
        .to_owned();
    let mut ids = Vec::new();
    for name in UNITS {
        let found = unit_named(&client, &root, name).await?;
        let id = match found {
            Some(id) => id,
            None => match client
                .create_organizational_unit()
                .parent_id(&root)
                .name(name)
                .send()
                .await
            {
                Ok(created) => created
                    .organizational_unit()
                    .and_then(|u| u.id())
                    .map(str::to_owned)
                    .ok_or_else(|| StackError::Seed("CreateOrganizationalUnit returned no id".into()))?,
                // An earlier try made it and its answer was lost: it is there, under its name.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_duplicate_organizational_unit_exception()) =>
                {
                    unit_named(&client, &root, name)
                        .await?
                        .ok_or_else(|| seed("CreateOrganizationalUnit", &err))?
                }
                Err(err) => return Err(seed("CreateOrganizationalUnit", &err)),
            },
        };
        ids.push(id);
    }
    let [pool, customers, expired, quarantine] =
        <[String; 4]>::try_from(ids).map_err(|_| StackError::Seed("four units".into()))?;
    Ok(Organization {
        client,
        units: Units {
            pool,
            customers,
            expired,
            quarantine,
        },
        email_domain: EMAIL_DOMAIN.to_owned(),
    })
}

/// The id of the unit `name` under `root`, if there is one.
async fn unit_named(
    client: &aws_sdk_organizations::Client,
    root: &str,
    name: &str,
) -> Result<Option<String>, StackError> {
    let units = client
        .list_organizational_units_for_parent()
        .parent_id(root)
        .send()
        .await
        .map_err(|e| StackError::Seed(format!("ListOrganizationalUnitsForParent: {e:?}")))?;
    Ok(units
        .organizational_units()
        .iter()
        .find(|u| u.name() == Some(name))
        .and_then(|u| u.id())
        .map(str::to_owned))
}

/// The seed's `pool_size` accounts, `sbx-pool-seed-<i>`: those an earlier seed made, and the
/// others asked for at once and waited for. Organizations takes a while and may fail a
/// creation (the realistic mode fails a share): a failed one is asked for again under the next
/// name of its family (`sbx-pool-seed-<i>-<n>`).
async fn created_accounts(organization: &Organization, pool_size: u32) -> Result<Vec<String>, StackError> {
    let seed = |e: sbx_aws::AwsError| StackError::Seed(e.to_string());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let creations = organization.creations().await.map_err(seed)?;
        let mut done = Vec::new();
        for i in 0..pool_size {
            let base = format!("{}seed-{i}", sbx_steps::sweep::pool::NAME_PREFIX);
            let family: Vec<_> = creations
                .iter()
                .filter(|c| c.email_name == base || c.email_name.starts_with(&format!("{base}-")))
                .collect();
            if let Some(id) = family.iter().find_map(|c| match &c.state {
                CreationState::Succeeded { account_id } => Some(account_id.clone()),
                _ => None,
            }) {
                done.push(id);
            } else if !family.iter().any(|c| c.state == CreationState::InProgress) {
                let name = match family.len() {
                    0 => base,
                    failed => format!("{base}-{failed}"),
                };
                tracing::info!(%name, "asking for a pool account");
                organization.create_account(&name).await.map_err(seed)?;
            }
        }
        if done.len() == pool_size as usize {
            return Ok(done);
        }
        if std::time::Instant::now() > deadline {
            return Err(StackError::Seed(format!(
                "Organizations made {} of the pool's {pool_size} accounts within 5 minutes",
                done.len()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The management account's image named `name`, registered now unless it exists.
async fn image(ec2: &aws_sdk_ec2::Client, name: &str) -> Result<String, StackError> {
    let found = ec2
        .describe_images()
        .owners("self")
        .filters(sbx_aws::tags::filter("name", name))
        .send()
        .await
        .map_err(|e| StackError::Seed(format!("DescribeImages: {e}")))?;
    if let Some(id) = found.images().first().and_then(|i| i.image_id()) {
        return Ok(id.to_owned());
    }
    let registered = ec2
        .register_image()
        .name(name)
        .description(format!("sbx {name} machine image"))
        .root_device_name("/dev/xvda")
        .send()
        .await
        .map_err(|e| StackError::Seed(format!("RegisterImage: {e}")))?;
    registered
        .image_id()
        .map(str::to_owned)
        .ok_or_else(|| StackError::Seed("RegisterImage returned no image id".into()))
}

/// The event bus `name` (the template's `EventBus`); one that exists is kept.
pub(crate) async fn event_bus(config: &SdkConfig, name: &str) -> Result<(), StackError> {
    let client = sbx_transient::client!(aws_sdk_eventbridge, config);
    match client.create_event_bus().name(name).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(StackError::Seed(format!(
            "CreateEventBus {name}: {}",
            aws_sdk_eventbridge::error::DisplayErrorContext(&err)
        ))),
    }
}

/// The ARN of the stream of the events table `table`.
pub(crate) async fn events_stream(config: &SdkConfig, table: &str) -> Result<String, StackError> {
    let client = sbx_transient::client!(aws_sdk_dynamodb, config);
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| {
            StackError::Seed(format!(
                "DescribeTable {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            ))
        })?;
    described
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| StackError::Seed(format!("table {table} has no stream")))
}

/// The queue stream records that cannot be published are parked in (`ParkedEventsQueue`), and
/// the stream's on-failure destination; its URL. Creating a queue that exists with the same
/// attributes answers its URL.
pub(crate) async fn parked_events_queue(config: &SdkConfig) -> Result<String, StackError> {
    sbx_transient::client!(aws_sdk_sqs, config)
        .create_queue()
        .queue_name(PARKED_EVENTS_QUEUE)
        .send()
        .await
        .map_err(|e| {
            StackError::Seed(format!(
                "CreateQueue {PARKED_EVENTS_QUEUE}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            ))
        })?
        .queue_url
        .ok_or_else(|| StackError::Seed(format!("CreateQueue {PARKED_EVENTS_QUEUE} answered no URL")))
}

/// The parked-events queue's name.
pub const PARKED_EVENTS_QUEUE: &str = "sbx-parked-events";

/// The alias of the key that seals webhook secrets (the template's `WebhookSecretsKey`).
pub const WEBHOOK_KEY_ALIAS: &str = "alias/sbx-webhook-secrets";

/// The KMS key webhook secrets are sealed with, by its alias: made once, found after (a key has
/// no name of its own; the alias is what makes this safe to run again). Answers its ARN; the
/// functions name it by its alias, as the template's do.
pub(crate) async fn webhook_key(config: &SdkConfig) -> Result<String, StackError> {
    let kms = sbx_transient::client!(aws_sdk_kms, config);
    let fail = |what: &str, e: String| StackError::Seed(format!("{what} {WEBHOOK_KEY_ALIAS}: {e}"));
    let described = kms.describe_key().key_id(WEBHOOK_KEY_ALIAS).send().await;
    match described {
        Ok(found) => {
            return found
                .key_metadata()
                .and_then(|k| k.arn())
                .map(str::to_owned)
                .ok_or_else(|| fail("DescribeKey", "no ARN".into()));
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found_exception()) => {}
        Err(err) => {
            return Err(fail(
                "DescribeKey",
                aws_sdk_kms::error::DisplayErrorContext(&err).to_string(),
            ));
        }
    }
    let made = kms
        .create_key()
        .description("Seals the sbx webhook signing secrets")
        .send()
        .await
        .map_err(|e| {
            fail(
                "CreateKey",
                aws_sdk_kms::error::DisplayErrorContext(&e).to_string(),
            )
        })?;
    let arn = made
        .key_metadata()
        .and_then(|k| k.arn())
        .map(str::to_owned)
        .ok_or_else(|| fail("CreateKey", "no ARN".into()))?;
    match kms
        .create_alias()
        .alias_name(WEBHOOK_KEY_ALIAS)
        .target_key_id(&arn)
        .send()
        .await
    {
        Ok(_) => Ok(arn),
        // Another try made it first: that one's key is the key (this one is left unused).
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            Box::pin(webhook_key(config)).await
        }
        Err(err) => Err(fail(
            "CreateAlias",
            aws_sdk_kms::error::DisplayErrorContext(&err).to_string(),
        )),
    }
}
