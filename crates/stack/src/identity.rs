//! The local Cognito: the user pool the API's users sign in to, as `infra/template.yaml`
//! defines it (the `custom:tenant` attribute, the `admins` group, an app client for
//! USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH without a secret), with two tenants' users and an
//! operator. Seeding again keeps the pool and its users and resets the passwords.

use crate::StackError;
use aws_config::SdkConfig;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, AttributeType, ExplicitAuthFlowsType, MessageActionType, SchemaAttributeType,
};

pub const USER_POOL: &str = "sbx-users";
pub const APP_CLIENT: &str = "sbx-api";

/// A user the local pool starts with. The passwords are for this machine only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedUser {
    pub username: &'static str,
    pub password: &'static str,
    pub tenant: Option<&'static str>,
    pub admin: bool,
}

pub const USERS: [SeedUser; 3] = [
    SeedUser {
        username: "alice",
        password: "Alice-sandbox-1",
        tenant: Some("acme"),
        admin: false,
    },
    SeedUser {
        username: "bob",
        password: "Bob-sandbox-1",
        tenant: Some("globex"),
        admin: false,
    },
    SeedUser {
        username: "olivia",
        password: "Olivia-operator-1",
        tenant: None,
        admin: true,
    },
];

/// The seeded pool: what the API and its authorizer are configured with.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_pool_id: String,
    pub client_id: String,
    /// The `iss` of the pool's tokens.
    pub issuer: String,
    /// Where moto serves the pool's public keys.
    pub jwks_url: String,
}

fn seed_error(what: &str, err: impl std::error::Error) -> StackError {
    StackError::Seed(format!("{what}: {}", DisplayErrorContext(err)))
}

pub(crate) async fn seed(config: &SdkConfig, endpoint: &str, region: &str) -> Result<Identity, StackError> {
    let cognito = sbx_transient::client!(aws_sdk_cognitoidentityprovider, config);
    let user_pool_id = user_pool(&cognito).await?;
    let client_id = app_client(&cognito, &user_pool_id).await?;
    match cognito
        .create_group()
        .user_pool_id(&user_pool_id)
        .group_name(sbx_api::caller::ADMINS)
        .description("sbx operators: act across tenants and manage accounts")
        .send()
        .await
    {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_group_exists_exception()) => {}
        Err(err) => return Err(seed_error("CreateGroup", err)),
    }
    for user in &USERS {
        add_user(&cognito, &user_pool_id, user).await?;
    }
    tracing::info!(%user_pool_id, users = USERS.len(), "user pool seeded");
    Ok(Identity {
        issuer: format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"),
        jwks_url: format!(
            "{}/{user_pool_id}/.well-known/jwks.json",
            endpoint.trim_end_matches('/')
        ),
        user_pool_id,
        client_id,
    })
}

async fn user_pool(cognito: &Client) -> Result<String, StackError> {
    let pools = cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .map_err(|e| seed_error("ListUserPools", e))?;
    if let Some(id) = pools
        .user_pools()
        .iter()
        .find(|p| p.name() == Some(USER_POOL))
        .and_then(|p| p.id())
    {
        return Ok(id.to_owned());
    }
    let tenant = SchemaAttributeType::builder()
        .name(sbx_api::directory::TENANT_ATTRIBUTE.trim_start_matches("custom:"))
        .attribute_data_type(AttributeDataType::String)
        .mutable(false)
        .build();
    let created = cognito
        .create_user_pool()
        .pool_name(USER_POOL)
        .schema(tenant)
        .send()
        .await
        .map_err(|e| seed_error("CreateUserPool", e))?;
    created
        .user_pool()
        .and_then(|p| p.id())
        .map(str::to_owned)
        .ok_or_else(|| StackError::Seed("CreateUserPool returned no id".into()))
}

async fn app_client(cognito: &Client, pool: &str) -> Result<String, StackError> {
    let clients = cognito
        .list_user_pool_clients()
        .user_pool_id(pool)
        .max_results(60)
        .send()
        .await
        .map_err(|e| seed_error("ListUserPoolClients", e))?;
    if let Some(id) = clients
        .user_pool_clients()
        .iter()
        .find(|c| c.client_name() == Some(APP_CLIENT))
        .and_then(|c| c.client_id())
    {
        return Ok(id.to_owned());
    }
    let created = cognito
        .create_user_pool_client()
        .user_pool_id(pool)
        .client_name(APP_CLIENT)
        .generate_secret(false)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .map_err(|e| seed_error("CreateUserPoolClient", e))?;
    created
        .user_pool_client()
        .and_then(|c| c.client_id())
        .map(str::to_owned)
        .ok_or_else(|| StackError::Seed("CreateUserPoolClient returned no id".into()))
}

/// Creates `user` (unless it exists) with a permanent password, its tenant and its groups.
async fn add_user(cognito: &Client, pool: &str, user: &SeedUser) -> Result<(), StackError> {
    let mut create = cognito
        .admin_create_user()
        .user_pool_id(pool)
        .username(user.username)
        .message_action(MessageActionType::Suppress);
    if let Some(tenant) = user.tenant {
        create = create.user_attributes(
            AttributeType::builder()
                .name(sbx_api::directory::TENANT_ATTRIBUTE)
                .value(tenant)
                .build()
                .map_err(|e| seed_error("AttributeType", e))?,
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_username_exists_exception()) => {}
        Err(err) => return Err(seed_error("AdminCreateUser", err)),
    }
    cognito
        .admin_set_user_password()
        .user_pool_id(pool)
        .username(user.username)
        .password(user.password)
        .permanent(true)
        .send()
        .await
        .map_err(|e| seed_error("AdminSetUserPassword", e))?;
    if user.admin {
        cognito
            .admin_add_user_to_group()
            .user_pool_id(pool)
            .username(user.username)
            .group_name(sbx_api::caller::ADMINS)
            .send()
            .await
            .map_err(|e| seed_error("AdminAddUserToGroup", e))?;
    }
    Ok(())
}
