//! What a signed AWS request asks for, in IAM's terms: who signed it (the access key), and each
//! action it needs on each resource, as AWS authorizes it.
//!
//! The resources are the ones AWS checks for the calls sbx makes (the Service Authorization
//! Reference): a DynamoDB table or index, each item of a transaction as its own action
//! (`PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`), a state machine or an
//! execution, a role to assume, a secret, a user pool, a bus, an SSM parameter, an image to
//! share; a launch with an instance profile also passes its role (`iam:PassRole`), and tags
//! given at creation need `ec2:CreateTags` or `elasticloadbalancing:AddTags`. Calls whose
//! resources this does not know are checked on `*`, as AWS checks actions that have no
//! resource types.

use axum::http::{HeaderMap, header};
use serde_json::Value;

/// One action on one resource, with the condition keys AWS sets for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `dynamodb:PutItem`.
    pub action: String,
    /// An ARN, or `*`.
    pub resource: String,
    pub context: Vec<(String, String)>,
}

/// A request as IAM sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub access_key: String,
    /// The signing name (`dynamodb`, `ec2`, `monitoring`, ...).
    pub service: String,
    /// The operation (`PutItem`).
    pub operation: String,
    params: Params,
}

#[derive(Debug, Clone, PartialEq)]
enum Params {
    Form(Vec<(String, String)>),
    Json(Value),
}

impl Call {
    /// The call a request makes, or `None` for one that is not signed (the JWKS document, a
    /// Cognito sign-in) or names no operation.
    pub fn read(headers: &HeaderMap, body: &[u8]) -> Option<Call> {
        let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let credential = authorization.split("Credential=").nth(1)?;
        let scope: Vec<&str> = credential.split([',', ' ']).next()?.split('/').collect();
        let (access_key, service) = (scope.first()?, scope.get(3)?);
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        let (operation, params) = match target {
            Some(target) => (
                target.rsplit('.').next()?.to_owned(),
                Params::Json(serde_json::from_slice(body).unwrap_or(Value::Null)),
            ),
            None => {
                let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
                let operation = form.iter().find(|(k, _)| k == "Action")?.1.clone();
                (operation, Params::Form(form))
            }
        };
        Some(Call {
            access_key: (*access_key).to_owned(),
            service: (*service).to_owned(),
            operation,
            params,
        })
    }

    /// The IAM service prefix of the call's actions.
    pub fn prefix(&self) -> &str {
        match self.service.as_str() {
            "monitoring" => "cloudwatch",
            "tagging" => "tag",
            other => other,
        }
    }

    /// `dynamodb:PutItem`.
    pub fn action(&self) -> String {
        format!("{}:{}", self.prefix(), self.operation)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        match &self.params {
            Params::Form(form) => form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()),
            Params::Json(json) => json.get(name).and_then(Value::as_str),
        }
    }

    fn params_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let form = match &self.params {
            Params::Form(form) => form.as_slice(),
            Params::Json(_) => &[],
        };
        form.iter()
            .filter(move |(k, _)| k.strip_prefix(prefix).is_some_and(|n| n.parse::<u32>().is_ok()))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> &Value {
        match &self.params {
            Params::Json(json) => json,
            Params::Form(_) => &Value::Null,
        }
    }

    /// What AWS authorizes for this call, made by `account` in `region`.
    pub fn checks(&self, account: &str, region: &str) -> Vec<Check> {
        let check = |action: String, resource: String| Check {
            action,
            resource,
            context: Vec::new(),
        };
        let on = |resource: String| vec![check(self.action(), resource)];
        let anything = || on("*".to_owned());
        match self.prefix() {
            "dynamodb" => self.dynamodb(account, region),
            "states" => {
                let arn = ["executionArn", "stateMachineArn"]
                    .iter()
                    .find_map(|name| self.param(name))
                    .map_or_else(|| "*".to_owned(), str::to_owned);
                on(arn)
            }
            "sts" if self.operation == "AssumeRole" => match self.param("RoleArn") {
                Some(role) => vec![Check {
                    context: org_context(role, account),
                    ..check(self.action(), role.to_owned())
                }],
                None => anything(),
            },
            "secretsmanager" => match self.param("SecretId") {
                Some(arn) if arn.starts_with("arn:") => on(arn.to_owned()),
                // A name stands for the secret with AWS's six random characters after it.
                Some(name) => on(format!(
                    "arn:aws:secretsmanager:{region}:{account}:secret:{name}-??????"
                )),
                None => anything(),
            },
            "cognito-idp" => match self.param("UserPoolId") {
                Some(pool) => on(format!("arn:aws:cognito-idp:{region}:{account}:userpool/{pool}")),
                None => anything(),
            },
            "events" if self.operation == "PutEvents" => {
                let buses: Vec<String> = self.json()["Entries"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|entry| {
                        let bus = entry["EventBusName"].as_str().unwrap_or("default");
                        if bus.starts_with("arn:") {
                            bus.to_owned()
                        } else {
                            format!("arn:aws:events:{region}:{account}:event-bus/{bus}")
                        }
                    })
                    .collect();
                buses.into_iter().map(|bus| check(self.action(), bus)).collect()
            }
            // A queue's URL ends in its account and name.
            "sqs" => match self
                .param("QueueUrl")
                .map(|url| url.rsplit('/').take(2).collect::<Vec<_>>())
            {
                Some(parts) if parts.len() == 2 => {
                    on(format!("arn:aws:sqs:{region}:{}:{}", parts[1], parts[0]))
                }
                _ => anything(),
            },
            // A key is named by its ARN (sbx names it so) or its id; the encryption context
            // is a condition key of its own per pair.
            "kms" => {
                let resource = match self.param("KeyId") {
                    Some(arn) if arn.starts_with("arn:") => arn.to_owned(),
                    Some(id) => format!("arn:aws:kms:{region}:{account}:key/{id}"),
                    None => "*".to_owned(),
                };
                let context = self.json()["EncryptionContext"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((format!("kms:EncryptionContext:{k}"), v.as_str()?.to_owned())))
                    .collect();
                vec![Check {
                    context,
                    ..check(self.action(), resource)
                }]
            }
            "ssm" if self.operation == "GetParameter" => match self.param("Name") {
                Some(name) => on(format!(
                    "arn:aws:ssm:{region}:{account}:parameter/{}",
                    name.trim_start_matches('/')
                )),
                None => anything(),
            },
            "ec2" => {
                let mut checks = self.ec2(account, region);
                // Tags given at creation are authorized as a CreateTags of their own.
                if self.has_param_with_prefix("TagSpecification.") {
                    checks.push(Check {
                        context: vec![("ec2:CreateAction".into(), self.operation.clone())],
                        ..check("ec2:CreateTags".into(), "*".into())
                    });
                }
                checks
            }
            "elasticloadbalancing" => {
                let mut checks = anything();
                // As for EC2: a create with tags also needs AddTags.
                if self.operation.starts_with("Create") && self.has_param_with_prefix("Tags.member.") {
                    checks.push(Check {
                        context: vec![("elasticloadbalancing:CreateAction".into(), self.operation.clone())],
                        ..check("elasticloadbalancing:AddTags".into(), "*".into())
                    });
                }
                checks
            }
            _ => anything(),
        }
    }

    fn has_param_with_prefix(&self, prefix: &str) -> bool {
        match &self.params {
            Params::Form(form) => form.iter().any(|(k, _)| k.starts_with(prefix)),
            Params::Json(_) => false,
        }
    }

    fn dynamodb(&self, account: &str, region: &str) -> Vec<Check> {
        let table = |name: &str| format!("arn:aws:dynamodb:{region}:{account}:table/{name}");
        let check = |action: &str, resource: String| Check {
            action: format!("dynamodb:{action}"),
            resource,
            context: Vec::new(),
        };
        let json = self.json();
        match self.operation.as_str() {
            // A transaction is authorized item by item, as the item's own action
            // (docs: "Using IAM with DynamoDB transactions").
            "TransactWriteItems" | "TransactGetItems" => json["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| {
                    let (kind, op) = item.as_object()?.iter().next()?;
                    let action = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        "Get" => "GetItem",
                        _ => return None,
                    };
                    Some(check(action, table(op["TableName"].as_str()?)))
                })
                .collect(),
            "BatchWriteItem" | "BatchGetItem" => json["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, _)| check(&self.operation, table(name)))
                .collect(),
            // The stream calls name the stream (a shard iterator stands for its stream).
            "DescribeStream" | "GetShardIterator" => match self.param("StreamArn") {
                Some(stream) => vec![check(&self.operation, stream.to_owned())],
                None => vec![check(&self.operation, "*".into())],
            },
            // A shard iterator stands for its stream, which the enforcer remembers
            // (`Enforcer::observe`); here it is not known.
            "GetRecords" => vec![check("GetRecords", "*".into())],
            "ListStreams" => vec![check("ListStreams", "*".into())],
            _ => match self.param("TableName") {
                Some(name) => {
                    let resource = match self.param("IndexName") {
                        Some(index) => format!("{}/index/{index}", table(name)),
                        None => table(name),
                    };
                    vec![check(&self.operation, resource)]
                }
                None => vec![check(&self.operation, "*".into())],
            },
        }
    }

    fn ec2(&self, account: &str, region: &str) -> Vec<Check> {
        let action = self.action();
        match self.operation.as_str() {
            "ModifyImageAttribute" => {
                let image = self.param("ImageId").unwrap_or("*");
                vec![Check {
                    action,
                    resource: format!("arn:aws:ec2:{region}::image/{image}"),
                    context: Vec::new(),
                }]
            }
            "StartInstances" | "StopInstances" | "TerminateInstances" => self
                .params_with_prefix("InstanceId.")
                .map(|id| Check {
                    action: action.clone(),
                    resource: format!("arn:aws:ec2:{region}:{account}:instance/{id}"),
                    context: Vec::new(),
                })
                .collect(),
            "RunInstances" => {
                let mut checks = vec![Check {
                    action,
                    resource: format!("arn:aws:ec2:{region}:{account}:instance/*"),
                    context: Vec::new(),
                }];
                // Launching with a profile passes its role to EC2 (sbx names the profile after
                // its role).
                if let Some(profile) = self.param("IamInstanceProfile.Name") {
                    checks.push(Check {
                        action: "iam:PassRole".into(),
                        resource: format!("arn:aws:iam::{account}:role/{profile}"),
                        context: vec![("iam:PassedToService".into(), "ec2.amazonaws.com".into())],
                    });
                }
                checks
            }
            _ => vec![Check {
                action,
                resource: "*".into(),
                context: Vec::new(),
            }],
        }
    }
}

/// The account of a role in another account, for `aws:ResourceOrgID` (the enforcer knows which
/// organization that account is in).
fn org_context(role: &str, caller_account: &str) -> Vec<(String, String)> {
    let account = role.split(':').nth(4).unwrap_or_default();
    if account.is_empty() || account == caller_account {
        return Vec::new();
    }
    vec![("aws:ResourceAccount".into(), account.to_owned())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn signed(service: &str, target: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!(
                "AWS4-HMAC-SHA256 Credential=ASIAKEY/20261206/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"
            ))
            .unwrap_or_else(|e| panic!("{e}")),
        );
        if let Some(target) = target {
            headers.insert(
                "x-amz-target",
                HeaderValue::from_str(target).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        headers
    }

    fn checks(headers: HeaderMap, body: &str) -> Vec<(String, String)> {
        let call = Call::read(&headers, body.as_bytes()).unwrap_or_else(|| panic!("not a call"));
        assert_eq!(call.access_key, "ASIAKEY");
        call.checks("123456789012", "us-east-1")
            .into_iter()
            .map(|c| (c.action, c.resource))
            .collect()
    }

    #[test]
    fn a_transaction_is_checked_item_by_item() {
        let body = r#"{"TransactItems":[{"Put":{"TableName":"sbx-events"}},{"ConditionCheck":{"TableName":"sbx-locks"}},{"Update":{"TableName":"sbx-sandboxes"}}]}"#;
        let table = |t: &str| format!("arn:aws:dynamodb:us-east-1:123456789012:table/{t}");
        assert_eq!(
            checks(
                signed("dynamodb", Some("DynamoDB_20120810.TransactWriteItems")),
                body
            ),
            vec![
                ("dynamodb:PutItem".into(), table("sbx-events")),
                ("dynamodb:ConditionCheckItem".into(), table("sbx-locks")),
                ("dynamodb:UpdateItem".into(), table("sbx-sandboxes")),
            ]
        );
    }

    #[test]
    fn a_query_of_an_index_is_checked_on_the_index() {
        let body = r#"{"TableName":"sbx-sandboxes","IndexName":"by-state"}"#;
        assert_eq!(
            checks(signed("dynamodb", Some("DynamoDB_20120810.Query")), body),
            vec![(
                "dynamodb:Query".into(),
                "arn:aws:dynamodb:us-east-1:123456789012:table/sbx-sandboxes/index/by-state".into()
            )]
        );
    }

    #[test]
    fn query_protocol_calls_name_their_instances_and_the_role_they_pass() {
        let stop = "Action=StopInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2";
        assert_eq!(
            checks(signed("ec2", None), stop),
            vec![
                (
                    "ec2:StopInstances".into(),
                    "arn:aws:ec2:us-east-1:123456789012:instance/i-1".into()
                ),
                (
                    "ec2:StopInstances".into(),
                    "arn:aws:ec2:us-east-1:123456789012:instance/i-2".into()
                ),
            ]
        );
        let run = "Action=RunInstances&ImageId=ami-1&IamInstanceProfile.Name=sbx-sandbox-instance";
        let all = checks(signed("ec2", None), run);
        assert_eq!(
            all[1],
            (
                "iam:PassRole".into(),
                "arn:aws:iam::123456789012:role/sbx-sandbox-instance".into()
            )
        );
        let elb = "Action=CreateLoadBalancer&Name=x";
        assert_eq!(
            checks(signed("elasticloadbalancing", None), elb),
            vec![("elasticloadbalancing:CreateLoadBalancer".into(), "*".into())]
        );
        let tagged =
            "Action=CreateLoadBalancer&Name=x&Tags.member.1.Key=sbx%3Atenant&Tags.member.1.Value=acme";
        assert_eq!(
            checks(signed("elasticloadbalancing", None), tagged)[1],
            ("elasticloadbalancing:AddTags".into(), "*".into())
        );
        let vpc =
            "Action=CreateVpc&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=sbx%3Atenant";
        assert_eq!(
            checks(signed("ec2", None), vpc),
            vec![
                ("ec2:CreateVpc".into(), "*".into()),
                ("ec2:CreateTags".into(), "*".into())
            ]
        );
    }

    #[test]
    fn executions_secrets_and_roles_are_named() {
        let start = r#"{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:create"}"#;
        assert_eq!(
            checks(signed("states", Some("AWSStepFunctions.StartExecution")), start)[0].1,
            "arn:aws:states:us-east-1:123456789012:stateMachine:create"
        );
        let secret = r#"{"SecretId":"sbx-page-token"}"#;
        assert_eq!(
            checks(
                signed("secretsmanager", Some("secretsmanager.GetSecretValue")),
                secret
            )[0]
            .1,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:sbx-page-token-??????"
        );
        let assume = "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Fsbx-provisioning";
        let call =
            Call::read(&signed("sts", None), assume.as_bytes()).unwrap_or_else(|| panic!("not a call"));
        let check = &call.checks("123456789012", "us-east-1")[0];
        assert_eq!(check.resource, "arn:aws:iam::111111111111:role/sbx-provisioning");
        assert_eq!(
            check.context,
            vec![("aws:ResourceAccount".to_owned(), "111111111111".to_owned())]
        );
    }

    #[test]
    fn an_unsigned_request_is_no_call() {
        assert_eq!(Call::read(&HeaderMap::new(), b"Action=X"), None);
    }
}
