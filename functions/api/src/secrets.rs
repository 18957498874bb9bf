//! Secrets, read from Secrets Manager once per cold start: the page-token key and the origin
//! secret ([`crate::origin`]). The template passes their names, never their values.
//!
//! They are read through Parameter Store's documented Secrets Manager reference
//! (`GetParameter` of `/aws/reference/secretsmanager/<secret id>`, with decryption): the API
//! functions then need only the SSM client, which the workspace already builds, and not a
//! Secrets Manager SDK of their own. The function role needs `ssm:GetParameter` on that path
//! and `secretsmanager:GetSecretValue` on the secret.

use aws_config::SdkConfig;

/// The path Parameter Store serves Secrets Manager secrets under.
pub const REFERENCE: &str = "/aws/reference/secretsmanager/";

#[derive(Debug, thiserror::Error)]
#[error("cannot read the secret {secret}: {message}")]
pub struct SecretError {
    pub secret: String,
    pub message: String,
}

/// The secret string of the Secrets Manager secret `secret_id` (a name or an ARN).
pub async fn read(config: &SdkConfig, secret_id: &str) -> Result<String, SecretError> {
    let fail = |message: String| SecretError {
        secret: secret_id.to_owned(),
        message,
    };
    let ssm = sbx_transient::client!(aws_sdk_ssm, config);
    let output = ssm
        .get_parameter()
        .name(format!("{REFERENCE}{secret_id}"))
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| fail(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
    output
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .ok_or_else(|| fail("it has no value".into()))
}
