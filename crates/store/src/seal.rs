//! Webhook signing secrets at rest: sealed with a KMS key that only the webhook API (which
//! seals a new secret) and the delivery function (which opens one to sign) may use, so that the
//! tenants table, which many roles read, holds only ciphertext.
//!
//! Each secret is encrypted directly (KMS `Encrypt`: a secret is 50 bytes, far under its 4 KB)
//! with an encryption context of its tenant and endpoint, so a sealed secret copied to another
//! endpoint's item does not open. The key policy (`WebhookSecretsKey` in the template) grants
//! `kms:Encrypt` to the API's webhook role and `kms:Decrypt` to the delivery's role, each only
//! with this context, and no other principal either.

use crate::error::StoreError;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A secret as it is stored: KMS's ciphertext, in base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(pub String);

/// Never the ciphertext in a log either.
impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// The encryption context's keys; the template's key policy names the same.
pub const CONTEXT_TENANT: &str = "sbx:tenant";
pub const CONTEXT_WEBHOOK: &str = "sbx:webhook";

/// Sealing and opening endpoint secrets.
pub trait Seal: Send + Sync {
    /// `secret` sealed for the endpoint `webhook` of `tenant`.
    fn seal(
        &self,
        tenant: &str,
        webhook: &str,
        secret: &str,
    ) -> impl Future<Output = Result<Sealed, StoreError>> + Send;

    /// The secret `sealed` holds, which must have been sealed for the same endpoint.
    fn open(
        &self,
        tenant: &str,
        webhook: &str,
        sealed: &Sealed,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// [`Seal`] with a KMS key.
#[derive(Clone)]
pub struct KmsSeal {
    kms: aws_sdk_kms::Client,
    /// The key, by its alias or ARN (`SBX_WEBHOOK_KEY`): decryption names it too, so a
    /// ciphertext of another key is refused.
    key: String,
}

impl KmsSeal {
    pub fn new(kms: aws_sdk_kms::Client, key: impl Into<String>) -> Self {
        Self { kms, key: key.into() }
    }
}

fn sealing<E>(operation: &'static str, err: aws_sdk_dynamodb::error::SdkError<E>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    StoreError::Sealing {
        operation,
        transient: sbx_transient::is_transient(&err),
        source: Box::new(err),
    }
}

impl Seal for KmsSeal {
    async fn seal(&self, tenant: &str, webhook: &str, secret: &str) -> Result<Sealed, StoreError> {
        let output = self
            .kms
            .encrypt()
            .key_id(&self.key)
            .plaintext(Blob::new(secret.as_bytes()))
            .encryption_context(CONTEXT_TENANT, tenant)
            .encryption_context(CONTEXT_WEBHOOK, webhook)
            .send()
            .await
            .map_err(|e| sealing("Encrypt", e))?;
        let blob = output
            .ciphertext_blob()
            .ok_or_else(|| StoreError::Malformed("KMS Encrypt answered no ciphertext".into()))?;
        Ok(Sealed(
            base64::engine::general_purpose::STANDARD.encode(blob.as_ref()),
        ))
    }

    async fn open(&self, tenant: &str, webhook: &str, sealed: &Sealed) -> Result<String, StoreError> {
        let blob = base64::engine::general_purpose::STANDARD
            .decode(&sealed.0)
            .map_err(|_| {
                StoreError::Malformed(format!("the sealed secret of webhook {webhook} is not base64"))
            })?;
        let output = self
            .kms
            .decrypt()
            .key_id(&self.key)
            .ciphertext_blob(Blob::new(blob))
            .encryption_context(CONTEXT_TENANT, tenant)
            .encryption_context(CONTEXT_WEBHOOK, webhook)
            .send()
            .await
            .map_err(|e| sealing("Decrypt", e))?;
        let plain = output
            .plaintext()
            .ok_or_else(|| StoreError::Malformed("KMS Decrypt answered no plaintext".into()))?;
        String::from_utf8(plain.as_ref().to_vec())
            .map_err(|_| StoreError::Malformed(format!("the secret of webhook {webhook} is not text")))
    }
}
