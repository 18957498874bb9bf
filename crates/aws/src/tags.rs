//! The tags sbx puts on everything it creates (SPEC: Tags). They are how cleanup proves an
//! account empty and finds orphans, and how every step finds what an earlier try created.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

pub const TENANT: &str = "sbx:tenant";
pub const SANDBOX: &str = "sbx:sandbox";
pub const ACCOUNT: &str = "sbx:account";
/// What the resource is for: `acp`, `ocp`, `proxy`, `nat`, `vpc`, `public`, ...
pub const ROLE: &str = "sbx:role";

/// Who a resource belongs to: a sandbox, or the account's shared infrastructure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Sandbox { tenant: String, sandbox: String },
    Account { tenant: String, account: String },
}

impl Owner {
    /// The tags of a resource of this owner with `role`.
    pub fn tags(&self, role: &str) -> Vec<(&'static str, String)> {
        let mut tags = match self {
            Owner::Sandbox { tenant, sandbox } => vec![(TENANT, tenant.clone()), (SANDBOX, sandbox.clone())],
            Owner::Account { tenant, account } => vec![(TENANT, tenant.clone()), (ACCOUNT, account.clone())],
        };
        tags.push((ROLE, role.to_owned()));
        tags
    }

    /// EC2 filters that find this owner's resources with `role`.
    pub fn filters(&self, role: &str) -> Vec<Filter> {
        let key = match self {
            Owner::Sandbox { sandbox, .. } => (SANDBOX, sandbox.as_str()),
            Owner::Account { account, .. } => (ACCOUNT, account.as_str()),
        };
        vec![
            filter(&format!("tag:{}", key.0), key.1),
            filter(&format!("tag:{ROLE}"), role),
        ]
    }

    /// EC2 filters that find every resource of this owner, whatever its role.
    pub fn owned(&self) -> Vec<Filter> {
        match self {
            Owner::Sandbox { sandbox, .. } => vec![filter(&format!("tag:{SANDBOX}"), sandbox)],
            Owner::Account { account, .. } => vec![filter(&format!("tag:{ACCOUNT}"), account)],
        }
    }

    /// An EC2 tag specification for a new resource of `kind`.
    pub fn ec2_spec(&self, kind: ResourceType, role: &str) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(
                self.tags(role)
                    .into_iter()
                    .map(|(key, value)| Tag::builder().key(key).value(value).build())
                    .collect(),
            ))
            .build()
    }

    /// ELBv2 tags for a new load balancer or target group.
    pub fn elb_tags(&self, role: &str) -> Vec<aws_sdk_elasticloadbalancingv2::types::Tag> {
        self.tags(role)
            .into_iter()
            .map(|(key, value)| {
                aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
            })
            .collect()
    }
}

pub fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// A short, stable name for a sandbox's resources whose names are limited (target groups:
/// 32 characters), derived from its tenant and id.
pub fn short_name(prefix: &str, tenant: &str, sandbox: &str) -> String {
    let digest = sha256(tenant, sandbox);
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

/// An EC2 client token for `what` within the attempt `scope` (an execution): `<scope>-<what>`,
/// or a digest of both where that is longer than the 64 characters EC2 accepts. The same
/// scope and purpose always give the same token, so a repeated call creates nothing twice.
pub fn client_token(scope: &str, what: &str) -> String {
    let token = format!("{scope}-{what}");
    if token.len() <= 64 {
        token
    } else {
        short_name(what, scope, "")
    }
}

/// A number in `0..modulus` derived from the sandbox, where probing for a free slot starts.
pub fn slot(tenant: &str, sandbox: &str, modulus: u32) -> u32 {
    let digest = sha256(tenant, sandbox);
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % modulus.max(1)
}

/// SHA-256 of `<tenant>/<sandbox>`, with the aws-lc-rs that the SDK's TLS already links (so no
/// second SHA-256 implementation is linked into the functions).
fn sha256(tenant: &str, sandbox: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{tenant}/{sandbox}").as_bytes(),
    );
    let mut bytes = [0; 32];
    bytes.copy_from_slice(digest.as_ref());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_stable_distinct_and_fit() {
        let a = short_name("sbx", "acme", "sbx-1");
        assert_eq!(a, short_name("sbx", "acme", "sbx-1"));
        assert_ne!(a, short_name("sbx", "globex", "sbx-1"));
        assert!(a.len() <= 32, "{a}");
        // SHA-256 of "acme/sbx-1": names stay those of resources already made.
        assert_eq!(a, "sbx-e984fb9fb2988ea1c842");
        assert!(slot("acme", "sbx-1", 7) < 7);
        assert_eq!(client_token("s1-create-3", "acp"), "s1-create-3-acp");
        let long = client_token(&"x".repeat(80), "acp");
        assert!(long.len() <= 64 && long.starts_with("acp-"), "{long}");
        assert_eq!(long, client_token(&"x".repeat(80), "acp"));
    }

    #[test]
    fn owners_tag_with_tenant_and_their_own_key() {
        let sandbox = Owner::Sandbox {
            tenant: "acme".into(),
            sandbox: "s1".into(),
        };
        assert_eq!(
            sandbox.tags("acp"),
            [
                (TENANT, "acme".into()),
                (SANDBOX, "s1".into()),
                (ROLE, "acp".into())
            ]
        );
        let account = Owner::Account {
            tenant: "acme".into(),
            account: "111".into(),
        };
        assert_eq!(account.tags("nat")[1], (ACCOUNT, "111".into()));
    }
}
