//! What the local AWS starts with: the tables, the management account's machine images (ACP,
//! OCP, proxy) and a pool of customer accounts. Seeding an endpoint that was seeded before
//! keeps what is there.

use crate::StackError;
use aws_config::SdkConfig;
use sbx_aws::Provisioner;
use sbx_steps::Images;
use sbx_store::{AccountStore, DynamoStore, StoreConfig, TableNames};

/// The provisioning role's name in every customer account.
pub const PROVISIONING_ROLE: &str = "sbx-provisioning";

/// The first account id of the pool; the others follow.
const FIRST_ACCOUNT: u64 = 100_000_000_001;

#[derive(Debug, Clone)]
pub struct Seed {
    pub images: Images,
    pub accounts: Vec<String>,
}

pub(crate) async fn seed(
    config: &SdkConfig,
    tables: &TableNames,
    pool_size: u32,
) -> Result<Seed, StackError> {
    let dynamo = aws_sdk_dynamodb::Client::new(config);
    sbx_store::schema::create_tables(&dynamo, tables)
        .await
        .map_err(|e| StackError::Seed(e.to_string()))?;

    let ec2 = aws_sdk_ec2::Client::new(config);
    let images = Images {
        acp: image(&ec2, "sbx-acp").await?,
        ocp: image(&ec2, "sbx-ocp").await?,
        proxy: image(&ec2, "sbx-proxy").await?,
    };

    let store = DynamoStore::new(dynamo, StoreConfig::new(tables.clone()));
    let bootstrap = Provisioner::new(config.clone(), sbx_aws::organizations::BOOTSTRAP_ROLE);
    let mut accounts = Vec::new();
    for i in 0..u64::from(pool_size) {
        let account_id = (FIRST_ACCOUNT + i).to_string();
        store
            .add_to_pool(&account_id)
            .await
            .map_err(|e| StackError::Seed(e.to_string()))?;
        sbx_aws::organizations::bootstrap(
            &bootstrap,
            &account_id,
            PROVISIONING_ROLE,
            crate::MANAGEMENT_ACCOUNT,
        )
        .await
        .map_err(|e| StackError::Seed(format!("bootstrap of {account_id}: {e}")))?;
        accounts.push(account_id);
    }
    tracing::info!(pool = accounts.len(), ?images, "local AWS seeded");
    Ok(Seed { images, accounts })
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
