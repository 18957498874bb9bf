//! [`FakeSeal`]: webhook secrets sealed without KMS (`sbx_store::Seal`). The sealed form names
//! the endpoint it was sealed for and hides the secret (reversed, hex), so a test can see that
//! what is stored is not the secret, and opening it for another endpoint fails as KMS's
//! encryption context makes it fail.

use sbx_store::{Seal, Sealed, StoreError};

#[derive(Debug, Clone, Default)]
pub struct FakeSeal;

impl Seal for FakeSeal {
    async fn seal(&self, tenant: &str, webhook: &str, secret: &str) -> Result<Sealed, StoreError> {
        let hidden: String = secret.bytes().rev().map(|b| format!("{b:02x}")).collect();
        Ok(Sealed(format!("fake-kms:{tenant}/{webhook}:{hidden}")))
    }

    async fn open(&self, tenant: &str, webhook: &str, sealed: &Sealed) -> Result<String, StoreError> {
        let refused = || StoreError::Malformed(format!("not sealed for {tenant}/{webhook}"));
        let hidden = sealed
            .0
            .strip_prefix(&format!("fake-kms:{tenant}/{webhook}:"))
            .ok_or_else(refused)?;
        let mut bytes = (0..hidden.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hidden.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| refused())?;
        bytes.reverse();
        String::from_utf8(bytes).map_err(|_| refused())
    }
}
