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
/// The role AWS Organizations creates in a member account for the management account; the seed
/// uses it to put the provisioning role there, as an account-vending bootstrap would.
const BOOTSTRAP_ROLE: &str = "OrganizationAccountAccessRole";
/// The customer-account template whose policy the provisioning role gets.
const PROVISIONING_TEMPLATE: &str = include_str!("../../../infra/provisioning-role.yaml");

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
    let bootstrap = Provisioner::new(config.clone(), BOOTSTRAP_ROLE);
    let mut accounts = Vec::new();
    for i in 0..u64::from(pool_size) {
        let account_id = (FIRST_ACCOUNT + i).to_string();
        store
            .add_to_pool(&account_id)
            .await
            .map_err(|e| StackError::Seed(e.to_string()))?;
        provisioning_role(&bootstrap, &account_id).await?;
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

/// The provisioning role's permissions, as `infra/provisioning-role.yaml` declares them.
fn provisioning_policy() -> Result<String, StackError> {
    let template: serde_yaml::Value = serde_yaml::from_str(PROVISIONING_TEMPLATE)
        .map_err(|e| StackError::Seed(format!("provisioning-role.yaml: {e}")))?;
    let document = &template["Resources"]["ProvisioningRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    if document.is_null() {
        return Err(StackError::Seed(
            "provisioning-role.yaml has no policy document".into(),
        ));
    }
    let json: serde_json::Value = serde_yaml::from_value(document.clone())
        .map_err(|e| StackError::Seed(format!("provisioning policy: {e}")))?;
    Ok(json.to_string())
}

/// Puts the provisioning role into `account_id`, trusting the management account, unless it is
/// there.
async fn provisioning_role(bootstrap: &Provisioner, account_id: &str) -> Result<(), StackError> {
    let member = bootstrap.open(account_id).await.config;
    let iam = aws_sdk_iam::Client::new(&member);
    let existing = iam.get_role().role_name(PROVISIONING_ROLE).send().await;
    match existing {
        Ok(_) => return Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) => {}
        Err(err) => return Err(StackError::Seed(format!("GetRole in {account_id}: {err:?}"))),
    }
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", crate::MANAGEMENT_ACCOUNT)},
            "Action": "sts:AssumeRole"
        }]
    });
    iam.create_role()
        .role_name(PROVISIONING_ROLE)
        .assume_role_policy_document(trust.to_string())
        .description("sbx provisioning role (infra/provisioning-role.yaml)")
        .send()
        .await
        .map_err(|e| StackError::Seed(format!("CreateRole in {account_id}: {e:?}")))?;
    iam.put_role_policy()
        .role_name(PROVISIONING_ROLE)
        .policy_name("sbx-lifecycle")
        .policy_document(provisioning_policy()?)
        .send()
        .await
        .map_err(|e| StackError::Seed(format!("PutRolePolicy in {account_id}: {e:?}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_provisioning_policy_comes_from_the_customer_account_template() {
        let policy = super::provisioning_policy().unwrap_or_else(|e| panic!("{e}"));
        let policy: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
        let actions: Vec<&str> = policy["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["Action"].as_array().into_iter().flatten())
            .filter_map(|a| a.as_str())
            .collect();
        assert!(actions.contains(&"ec2:RunInstances"));
        assert!(actions.contains(&"ssm:SendCommand"));
        assert!(
            !actions.iter().any(|a| a.starts_with("iam:")),
            "the role cannot touch IAM"
        );
    }
}
