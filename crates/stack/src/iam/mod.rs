//! IAM in the local AWS: every call signed with a role's credentials is allowed only if that
//! role's policies allow each action it needs on each resource it names, as AWS decides it;
//! otherwise it is refused with the error the service gives (`AccessDeniedException`,
//! `UnauthorizedOperation`, `AccessDenied`), naming the action and the resource.
//!
//! moto's own enforcement checks every request against the resource `*`, so the AWS layer
//! (`faults.rs`' proxy) asks this module instead. It learns what it enforces from the traffic
//! itself, as IAM would know it:
//! - a role's inline policies from each `PutRolePolicy` (and `DeleteRolePolicy`) that succeeds,
//!   in the account of whoever made the call: the template's roles, which the local stack
//!   creates, and the provisioning role that the bootstrap puts into every member account;
//! - which role an access key stands for from each `AssumeRole` answer.
//!
//! Keys it does not know (the management account's own, used by the seed and the tests) and
//! roles it has seen no policy for (the organization's access role, an administrator) are not
//! restricted. Policies are evaluated with the `iam-rs` crate; managed policies are not
//! (the template attaches only AWS's logging and tracing ones, which no local call needs).

pub mod call;
pub mod roles;
pub mod template;
pub mod unused;

use call::{Call, Check};
use iam_rs::{
    Arn, Context, ContextValue, Decision, IAMPolicy, IAMRequest, PolicyEvaluator, Principal, PrincipalId,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// How many shard iterators are remembered before the oldest are forgotten (all at once).
const MAX_ITERATORS: usize = 100_000;

/// Who an access key stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub role: String,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub arn: String,
}

/// A call refused, in AWS's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub principal: String,
    pub action: String,
    pub resource: String,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "User: {} is not authorized to perform: {} on resource: {} because no identity-based policy allows the {} action",
            self.principal, self.action, self.resource, self.action
        )
    }
}

#[derive(Default)]
struct Book {
    keys: HashMap<String, Caller>,
    /// (account, role) → its policies by name, and the evaluator of them all (made once per
    /// change of a policy, not per call).
    policies: HashMap<(String, String), RolePolicies>,
}

#[derive(Default)]
struct RolePolicies {
    by_name: BTreeMap<String, IAMPolicy>,
    evaluator: Arc<PolicyEvaluator>,
}

impl RolePolicies {
    fn changed(&mut self) {
        self.evaluator = Arc::new(PolicyEvaluator::with_policies(
            self.by_name.values().cloned().collect(),
        ));
    }
}

/// The enforcer: what it has learned, and the actions each role was allowed so far.
pub struct Enforcer {
    management_account: String,
    region: String,
    organization: std::sync::OnceLock<String>,
    book: Mutex<Book>,
    /// Shard iterator → its stream: `GetRecords` is authorized on the stream it reads.
    iterators: Mutex<HashMap<String, String>>,
    used: Mutex<BTreeSet<(String, String)>>,
    /// Where each newly used (role, action) is appended, one `role action` line each, when the
    /// tests collect them (`SBX_IAM_USAGE`).
    usage_log: Option<Mutex<std::fs::File>>,
}

impl std::fmt::Debug for Enforcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enforcer")
            .field("management_account", &self.management_account)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Enforcer {
    /// `usage_dir`: where to append the (role, action) pairs allowed, for the check of unused
    /// permissions.
    pub fn new(management_account: &str, region: &str, usage_dir: Option<&std::path::Path>) -> Self {
        let usage_log = usage_dir.and_then(|dir| {
            std::fs::create_dir_all(dir).ok()?;
            let path = dir.join(format!("{}-{}.log", std::process::id(), fastrand::u64(..)));
            std::fs::File::create(path).ok().map(Mutex::new)
        });
        Self {
            management_account: management_account.to_owned(),
            region: region.to_owned(),
            organization: std::sync::OnceLock::new(),
            book: Mutex::new(Book::default()),
            iterators: Mutex::new(HashMap::new()),
            used: Mutex::new(BTreeSet::new()),
            usage_log,
        }
    }

    /// The organization every member account belongs to (`aws:ResourceOrgID`), once the seed
    /// has made it.
    pub fn set_organization(&self, organization: &str) {
        let _ = self.organization.set(organization.to_owned());
    }

    /// Allows or refuses `call`.
    pub fn authorize(&self, call: &Call) -> Result<(), Denial> {
        let Some(principal) = lock(&self.book).keys.get(&call.access_key).cloned() else {
            return Ok(());
        };
        let mut checks = call.checks(&principal.account, &self.region);
        for check in &mut checks {
            if check.action == "dynamodb:GetRecords" {
                if let Some(stream) = call
                    .param("ShardIterator")
                    .and_then(|i| lock(&self.iterators).get(i).cloned())
                {
                    check.resource = stream;
                }
            }
        }
        self.decide(&principal, &checks)
    }

    /// Allows or refuses the engine's invocation of `function_arn` by a state machine whose
    /// role is `role_arn` (`lambda:InvokeFunction`), as Step Functions' call is authorized.
    pub fn authorize_invoke(&self, role_arn: &str, function_arn: &str) -> Result<(), Denial> {
        let Some((account, role)) = role_arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(":role/"))
        else {
            return Ok(());
        };
        let principal = Caller {
            account: account.to_owned(),
            role: role.to_owned(),
            arn: format!("arn:aws:sts::{account}:assumed-role/{role}/states"),
        };
        let check = Check {
            action: "lambda:InvokeFunction".into(),
            resource: function_arn.to_owned(),
            context: Vec::new(),
        };
        self.decide(&principal, &[check])
    }

    /// Every check allowed by the policies of `principal`'s role, or the first refused. A role
    /// it has seen no policy for is not restricted.
    fn decide(&self, principal: &Caller, checks: &[Check]) -> Result<(), Denial> {
        let evaluator = {
            let book = lock(&self.book);
            let key = (principal.account.clone(), principal.role.clone());
            let Some(policies) = book.policies.get(&key) else {
                return Ok(());
            };
            policies.evaluator.clone()
        };
        for check in checks {
            if !self.allows(&evaluator, principal, check) {
                self.log(&format!(
                    "DENIED {} {} {}",
                    principal.role, check.action, check.resource
                ));
                return Err(Denial {
                    principal: principal.arn.clone(),
                    action: check.action.clone(),
                    resource: check.resource.clone(),
                });
            }
            self.record(&principal.role, &check.action);
        }
        Ok(())
    }

    fn allows(&self, evaluator: &PolicyEvaluator, principal: &Caller, check: &Check) -> bool {
        let mut context = Context::new();
        context.insert(
            "aws:PrincipalArn".into(),
            ContextValue::String(principal.arn.clone()),
        );
        for (key, value) in &check.context {
            context.insert(key.clone(), ContextValue::String(value.clone()));
            // Every member account of the local stack is in its one organization.
            if let (true, Some(organization)) = (
                key == "aws:ResourceAccount" && *value != self.management_account,
                self.organization.get(),
            ) {
                context.insert(
                    "aws:ResourceOrgID".into(),
                    ContextValue::String(organization.clone()),
                );
            }
        }
        let resource = if check.resource == "*" {
            Arn {
                partition: "aws".into(),
                service: check.action.split(':').next().unwrap_or_default().to_owned(),
                region: String::new(),
                account_id: String::new(),
                resource: "*".into(),
            }
        } else {
            match Arn::parse(&check.resource) {
                Ok(arn) => arn,
                Err(_) => return false,
            }
        };
        let request = IAMRequest::new_with_context(
            Principal::Aws(PrincipalId::String(principal.arn.clone())),
            check.action.clone(),
            resource,
            context,
        );
        matches!(
            evaluator.evaluate(&request).map(|r| r.decision),
            Ok(Decision::Allow)
        )
    }

    fn record(&self, role: &str, action: &str) {
        if lock(&self.used).insert((role.to_owned(), action.to_owned())) {
            self.log(&format!("{role} {action}"));
        }
    }

    /// A line of the usage log: `role action`, or `DENIED role action resource`.
    fn log(&self, line: &str) {
        if let Some(log) = &self.usage_log {
            let _ = writeln!(lock(log), "{line}");
        }
    }

    /// Learns from a call that succeeded with `answer`: the key an `AssumeRole` gave out, a
    /// policy put on or deleted from a role.
    pub fn observe(&self, call: &Call, answer: &[u8]) {
        match (call.prefix(), call.operation.as_str()) {
            ("sts", "AssumeRole") => {
                let text = String::from_utf8_lossy(answer);
                let (Some(key), Some(arn)) = (element(&text, "AccessKeyId"), element(&text, "Arn")) else {
                    return;
                };
                let Some(principal) = assumed(&arn) else { return };
                lock(&self.book).keys.insert(key, principal);
            }
            ("iam", "PutRolePolicy") => {
                let (Some(role), Some(name), Some(document)) = (
                    call.param("RoleName"),
                    call.param("PolicyName"),
                    call.param("PolicyDocument"),
                ) else {
                    return;
                };
                let Ok(policy) = IAMPolicy::from_json(document) else {
                    tracing::warn!(role, name, "a policy iam-rs cannot read is not enforced");
                    return;
                };
                let account = self.account_of(&call.access_key);
                let mut book = lock(&self.book);
                let policies = book.policies.entry((account, role.to_owned())).or_default();
                policies.by_name.insert(name.to_owned(), policy);
                policies.changed();
            }
            ("dynamodb", "GetShardIterator" | "GetRecords") => {
                let Ok(answer) = serde_json::from_slice::<serde_json::Value>(answer) else {
                    return;
                };
                let mut iterators = lock(&self.iterators);
                let (stream, next) = match call.param("StreamArn") {
                    Some(stream) => (Some(stream.to_owned()), answer["ShardIterator"].as_str()),
                    // An iterator stays valid after it was read (AWS: for 15 minutes), so a
                    // reader may read it again.
                    None => (
                        call.param("ShardIterator")
                            .and_then(|i| iterators.get(i).cloned()),
                        answer["NextShardIterator"].as_str(),
                    ),
                };
                if iterators.len() > MAX_ITERATORS {
                    iterators.clear();
                }
                if let (Some(stream), Some(next)) = (stream, next) {
                    iterators.insert(next.to_owned(), stream);
                }
            }
            ("iam", "DeleteRolePolicy") => {
                let (Some(role), Some(name)) = (call.param("RoleName"), call.param("PolicyName")) else {
                    return;
                };
                let account = self.account_of(&call.access_key);
                if let Some(policies) = lock(&self.book).policies.get_mut(&(account, role.to_owned())) {
                    policies.by_name.remove(name);
                    policies.changed();
                }
            }
            _ => {}
        }
    }

    fn account_of(&self, key: &str) -> String {
        lock(&self.book)
            .keys
            .get(key)
            .map_or_else(|| self.management_account.clone(), |p| p.account.clone())
    }

    /// Each (role, action) allowed so far.
    pub fn used(&self) -> BTreeSet<(String, String)> {
        lock(&self.used).clone()
    }
}

/// The text of the first `<name>` element.
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].trim().to_owned())
}

/// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
fn assumed(arn: &str) -> Option<Caller> {
    let mut parts = arn.splitn(6, ':');
    let account = parts.nth(4)?.to_owned();
    let resource = parts.next()?;
    let mut path = resource.strip_prefix("assumed-role/")?.split('/');
    let role = path.next()?.to_owned();
    Some(Caller {
        account,
        role,
        arn: arn.to_owned(),
    })
}

/// The engine's invocations, authorized by the enforcer.
impl sbx_sfn_local::Authorize for Enforcer {
    fn invoke(&self, role_arn: &str, function_arn: &str) -> Result<(), String> {
        self.authorize_invoke(role_arn, function_arn)
            .map_err(|denial| denial.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn call(key: &str, service: &str, target: Option<&str>, body: &str) -> Call {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential={key}/20261206/us-east-1/{service}/aws4_request, Signature=x"
            ))
            .unwrap_or_else(|e| panic!("{e}")),
        );
        if let Some(target) = target {
            headers.insert(
                "x-amz-target",
                HeaderValue::from_str(target).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        Call::read(&headers, body.as_bytes()).unwrap_or_else(|| panic!("not a call"))
    }

    fn form(pairs: &[(&str, &str)]) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    /// An enforcer that has seen `role` get `policy` and `ASIAKEY` assumed into it.
    fn enforcer(role: &str, policy: &serde_json::Value) -> Enforcer {
        let enforcer = Enforcer::new("123456789012", "us-east-1", None);
        enforcer.set_organization("o-abcdefghij");
        let put = form(&[
            ("Action", "PutRolePolicy"),
            ("RoleName", role),
            ("PolicyName", "p"),
            ("PolicyDocument", &policy.to_string()),
        ]);
        enforcer.observe(&call("ROOT", "iam", None, &put), b"<PutRolePolicyResponse/>");
        let answer = format!(
            "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAKEY</AccessKeyId></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/{role}/s</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"
        );
        enforcer.observe(&call("ROOT", "sts", None, "Action=AssumeRole"), answer.as_bytes());
        enforcer
    }

    #[test]
    fn a_role_may_do_what_its_policy_allows_on_the_resources_it_names_and_nothing_else() {
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:GetItem"],
            "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/sbx-locks"
        }]});
        let enforcer = enforcer("AcquireLockRole", &policy);
        let target = Some("DynamoDB_20120810.PutItem");
        assert_eq!(
            enforcer.authorize(&call(
                "ASIAKEY",
                "dynamodb",
                target,
                r#"{"TableName":"sbx-locks"}"#
            )),
            Ok(())
        );
        let denied = enforcer
            .authorize(&call(
                "ASIAKEY",
                "dynamodb",
                target,
                r#"{"TableName":"sbx-sandboxes"}"#,
            ))
            .err()
            .unwrap_or_else(|| panic!("another table was allowed"));
        assert_eq!(denied.action, "dynamodb:PutItem");
        assert_eq!(
            denied.resource,
            "arn:aws:dynamodb:us-east-1:123456789012:table/sbx-sandboxes"
        );
        assert!(
            denied
                .to_string()
                .contains("assumed-role/AcquireLockRole/s is not authorized to perform: dynamodb:PutItem")
        );
        let delete = Some("DynamoDB_20120810.DeleteItem");
        assert!(
            enforcer
                .authorize(&call(
                    "ASIAKEY",
                    "dynamodb",
                    delete,
                    r#"{"TableName":"sbx-locks"}"#
                ))
                .is_err()
        );
        // Keys it never saw given out are not restricted.
        assert_eq!(
            enforcer.authorize(&call("ROOT", "dynamodb", delete, r#"{"TableName":"x"}"#)),
            Ok(())
        );
        assert_eq!(
            enforcer.used(),
            BTreeSet::from([("AcquireLockRole".to_owned(), "dynamodb:PutItem".to_owned())])
        );
    }

    #[test]
    fn assuming_a_member_role_needs_the_organization_the_policy_names() {
        let policy = |org: &str| {
            serde_json::json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": "arn:aws:iam::*:role/sbx-provisioning",
                "Condition": {"StringEquals": {"aws:ResourceOrgID": org}}
            }]})
        };
        let assume = |role: &str| {
            form(&[
                ("Action", "AssumeRole"),
                ("RoleArn", role),
                ("RoleSessionName", "s"),
            ])
        };
        let member = "arn:aws:iam::111111111111:role/sbx-provisioning";
        let ours = enforcer("EnsureInfrastructureRole", &policy("o-abcdefghij"));
        assert_eq!(
            ours.authorize(&call("ASIAKEY", "sts", None, &assume(member))),
            Ok(())
        );
        assert!(
            ours.authorize(&call(
                "ASIAKEY",
                "sts",
                None,
                &assume("arn:aws:iam::111111111111:role/admin")
            ))
            .is_err()
        );
        let other = enforcer("EnsureInfrastructureRole", &policy("o-zzzzzzzzzz"));
        assert!(
            other
                .authorize(&call("ASIAKEY", "sts", None, &assume(member)))
                .is_err()
        );
    }

    #[test]
    fn a_state_machine_invokes_only_the_functions_its_role_names() {
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": ["arn:aws:lambda:us-east-1:123456789012:function:launch-instances"]
        }]});
        let enforcer = enforcer("CreateStateMachineRole", &policy);
        let role = "arn:aws:iam::123456789012:role/CreateStateMachineRole";
        let function = |name: &str| format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");
        assert_eq!(
            enforcer.authorize_invoke(role, &function("launch-instances")),
            Ok(())
        );
        let denied = enforcer
            .authorize_invoke(role, &function("grow-pool"))
            .err()
            .unwrap_or_else(|| panic!("another function was allowed"));
        assert_eq!(denied.action, "lambda:InvokeFunction");
        // A role the enforcer never saw a policy for is not restricted.
        assert_eq!(
            enforcer.authorize_invoke("arn:aws:iam::123456789012:role/Other", &function("grow-pool")),
            Ok(())
        );
    }

    #[test]
    fn a_deleted_policy_allows_nothing_more() {
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"},
            {"Effect": "Allow", "Action": "ec2:ModifyImageAttribute", "Resource": "arn:aws:ec2:us-east-1::image/ami-1"}
        ]});
        let enforcer = enforcer("AllocateAccountRole", &policy);
        let modify = |image: &str| form(&[("Action", "ModifyImageAttribute"), ("ImageId", image)]);
        assert_eq!(
            enforcer.authorize(&call("ASIAKEY", "ec2", None, &modify("ami-1"))),
            Ok(())
        );
        assert!(
            enforcer
                .authorize(&call("ASIAKEY", "ec2", None, &modify("ami-2")))
                .is_err()
        );
        let delete = form(&[
            ("Action", "DeleteRolePolicy"),
            ("RoleName", "AllocateAccountRole"),
            ("PolicyName", "p"),
        ]);
        enforcer.observe(&call("ROOT", "iam", None, &delete), b"");
        // No policy left: the role may do nothing.
        assert!(
            enforcer
                .authorize(&call("ASIAKEY", "ec2", None, &modify("ami-1")))
                .is_err()
        );
    }
}
