//! The user directory: which tenant a user belongs to, from Cognito's `custom:tenant`.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, SdkError};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The user attribute that names a user's tenant.
pub const TENANT_ATTRIBUTE: &str = "custom:tenant";

#[derive(Debug, thiserror::Error)]
#[error("Cognito {operation} failed: {message}")]
pub struct DirectoryError {
    operation: &'static str,
    message: String,
}

pub trait Directory: Send + Sync {
    /// The tenant of an enabled user; `None` for a user with none, a disabled or unknown one.
    fn tenant_of(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<String>, DirectoryError>> + Send;
}

/// [`Directory`] on a Cognito user pool (AdminGetUser), with a short cache per process.
#[derive(Debug)]
pub struct Cognito {
    client: Client,
    user_pool_id: String,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl Cognito {
    pub fn new(client: Client, user_pool_id: impl Into<String>) -> Self {
        Self {
            client,
            user_pool_id: user_pool_id.into(),
            ttl: Duration::from_secs(60),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, username: &str) -> Option<Option<String>> {
        let cache = self.cache.lock().ok()?;
        let (tenant, at) = cache.get(username)?;
        (at.elapsed() < self.ttl).then(|| tenant.clone())
    }
}

impl Directory for Cognito {
    async fn tenant_of(&self, username: &str) -> Result<Option<String>, DirectoryError> {
        if let Some(tenant) = self.cached(username) {
            return Ok(tenant);
        }
        let result = self
            .client
            .admin_get_user()
            .user_pool_id(&self.user_pool_id)
            .username(username)
            .send()
            .await;
        let tenant = match result {
            Ok(user) if user.enabled => user
                .user_attributes()
                .iter()
                .find(|a| a.name() == TENANT_ATTRIBUTE)
                .and_then(|a| a.value())
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            Ok(_) => None,
            Err(SdkError::ServiceError(e)) if e.err().is_user_not_found_exception() => None,
            Err(err) => {
                return Err(DirectoryError {
                    operation: "AdminGetUser",
                    message: DisplayErrorContext(&err).to_string(),
                });
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(username.to_owned(), (tenant.clone(), Instant::now()));
        }
        Ok(tenant)
    }
}
