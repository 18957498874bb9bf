//! The roles of `infra/template.yaml`, as the local stack creates them: each `AWS::IAM::Role`
//! with its trust policy and its inline policies, the intrinsic functions in them resolved to
//! the local stack's names, and which function runs under which role.
//!
//! Local names are the template's names without the stack's prefix: the function
//! `${AWS::StackName}-launch-instances` is `launch-instances` here, the state machine
//! `${AWS::StackName}-create` is `create`, and a table is the stack's table of that kind.

use serde_json::Value as Json;
use serde_yaml::Value;
use std::collections::BTreeMap;

/// A role of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// The logical id, which is also the local role's name (`LaunchInstancesRole`).
    pub name: String,
    pub trust: Json,
    /// Inline policies by name, resolved.
    pub policies: BTreeMap<String, Json>,
    /// Managed policy ARNs (AWS's own: moto loads only some, so the local stack notes them).
    pub managed: Vec<String>,
}

/// What the template's intrinsic functions resolve to locally.
#[derive(Debug, Clone)]
pub struct Names {
    pub region: String,
    pub account: String,
    /// `SandboxesTable` → `sbx-sandboxes`, ...
    pub tables: BTreeMap<String, String>,
    /// Parameter values (`AcpImageId`, `OrganizationId`, ...); a parameter not here takes its
    /// default.
    pub parameters: BTreeMap<String, String>,
    /// `!Ref`/`!GetAtt .Arn` of other resources (the user pool, the bus, the secrets).
    pub resources: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is not YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("{0}")]
    Unresolved(String),
}

/// The template's roles and the function each role belongs to.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub roles: Vec<Role>,
    /// Local function name (`launch-instances`) → role name (`LaunchInstancesRole`).
    pub functions: BTreeMap<String, String>,
    /// Local state machine name (`create`) → role name.
    pub state_machines: BTreeMap<String, String>,
}

impl Roles {
    pub fn read(template: &str, names: &Names) -> Result<Self, TemplateError> {
        let template: Value = serde_yaml::from_str(template)?;
        let mut parameters = names.parameters.clone();
        if let Some(declared) = template["Parameters"].as_mapping() {
            for (name, declaration) in declared {
                if let (Some(name), Some(default)) = (name.as_str(), scalar(&declaration["Default"])) {
                    parameters.entry(name.to_owned()).or_insert(default);
                }
            }
        }
        let resolver = Resolver { names, parameters };
        let mut roles = Roles::default();
        let Some(resources) = template["Resources"].as_mapping() else {
            return Ok(roles);
        };
        for (id, resource) in resources {
            let Some(id) = id.as_str() else { continue };
            let properties = &resource["Properties"];
            match resource["Type"].as_str() {
                Some("AWS::IAM::Role") => roles.roles.push(resolver.role(id, properties)?),
                Some("AWS::Serverless::Function") => {
                    if let (Some(function), Some(role)) =
                        (local_name(&properties["FunctionName"]), role_of(properties))
                    {
                        roles.functions.insert(function, role);
                    }
                }
                Some("AWS::Serverless::StateMachine") => {
                    if let (Some(machine), Some(role)) =
                        (local_name(&properties["Name"]), role_of(properties))
                    {
                        roles.state_machines.insert(machine, role);
                    }
                }
                _ => {}
            }
        }
        Ok(roles)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|role| role.name == name)
    }
}

/// `!Sub "${AWS::StackName}-launch-instances"` → `launch-instances`.
fn local_name(value: &Value) -> Option<String> {
    let Value::Tagged(tagged) = value else { return None };
    tagged
        .value
        .as_str()?
        .strip_prefix("${AWS::StackName}-")
        .map(str::to_owned)
}

/// `Role: !GetAtt XRole.Arn` → `XRole`.
fn role_of(properties: &Value) -> Option<String> {
    let Value::Tagged(tagged) = &properties["Role"] else {
        return None;
    };
    Some(tagged.value.as_str()?.strip_suffix(".Arn")?.to_owned())
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

struct Resolver<'a> {
    names: &'a Names,
    parameters: BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn role(&self, id: &str, properties: &Value) -> Result<Role, TemplateError> {
        let mut policies = BTreeMap::new();
        for policy in properties["Policies"].as_sequence().into_iter().flatten() {
            let name = policy["PolicyName"]
                .as_str()
                .ok_or_else(|| TemplateError::Unresolved(format!("{id}: a policy without a name")))?;
            let document = self
                .json(&policy["PolicyDocument"])
                .map_err(|e| TemplateError::Unresolved(format!("{id}, policy {name}: {e}")))?;
            policies.insert(name.to_owned(), document);
        }
        let trust = self
            .json(&properties["AssumeRolePolicyDocument"])
            .map_err(|e| TemplateError::Unresolved(format!("{id}, trust policy: {e}")))?;
        let managed = properties["ManagedPolicyArns"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|arn| self.json(arn).ok()?.as_str().map(str::to_owned))
            .collect();
        Ok(Role {
            name: id.to_owned(),
            trust,
            policies,
            managed,
        })
    }

    /// The value as JSON, its intrinsic functions resolved.
    fn json(&self, value: &Value) -> Result<Json, String> {
        Ok(match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => serde_json::to_value(n).map_err(|e| e.to_string())?,
            Value::String(s) => Json::String(s.clone()),
            Value::Sequence(items) => {
                Json::Array(items.iter().map(|v| self.json(v)).collect::<Result<_, _>>()?)
            }
            Value::Mapping(map) => {
                let mut object = serde_json::Map::new();
                for (key, value) in map {
                    let key = key.as_str().ok_or("a key that is not a string")?;
                    object.insert(key.to_owned(), self.json(value)?);
                }
                Json::Object(object)
            }
            Value::Tagged(tagged) => {
                let argument = tagged
                    .value
                    .as_str()
                    .ok_or_else(|| format!("{} with an argument that is not a string", tagged.tag))?;
                Json::String(match tagged.tag.to_string().as_str() {
                    "!Ref" => self.reference(argument)?,
                    "!GetAtt" => self.attribute(argument)?,
                    "!Sub" => self.substitute(argument)?,
                    other => return Err(format!("{other} is not resolved locally")),
                })
            }
        })
    }

    fn reference(&self, name: &str) -> Result<String, String> {
        if let Some(value) = self.pseudo(name) {
            return Ok(value);
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        if let Some(table) = self.names.tables.get(name) {
            return Ok(table.clone());
        }
        if let Some(machine) = name.strip_suffix("StateMachine") {
            return Ok(format!(
                "arn:aws:states:{}:{}:stateMachine:{}",
                self.names.region,
                self.names.account,
                kebab(machine)
            ));
        }
        self.names
            .resources
            .get(name)
            .cloned()
            .ok_or_else(|| format!("!Ref {name} has no local value"))
    }

    fn attribute(&self, argument: &str) -> Result<String, String> {
        let (resource, attribute) = argument
            .split_once('.')
            .ok_or_else(|| format!("!GetAtt {argument} names no attribute"))?;
        let (region, account) = (&self.names.region, &self.names.account);
        if let Some(table) = self.names.tables.get(resource) {
            return match attribute {
                "Arn" => Ok(format!("arn:aws:dynamodb:{region}:{account}:table/{table}")),
                // A stream's label is the time it was enabled, known only once it is.
                "StreamArn" => Ok(format!(
                    "arn:aws:dynamodb:{region}:{account}:table/{table}/stream/*"
                )),
                _ => Err(format!("!GetAtt {argument} is not resolved locally")),
            };
        }
        if let (Some(function), "Arn") = (resource.strip_suffix("Function"), attribute) {
            return Ok(format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                kebab(function)
            ));
        }
        self.names
            .resources
            .get(argument)
            .cloned()
            .ok_or_else(|| format!("!GetAtt {argument} has no local value"))
    }

    fn substitute(&self, text: &str) -> Result<String, String> {
        // The stack's own prefix is not part of local names.
        let text = text.replace("${AWS::StackName}-", "");
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| format!("unclosed ${{ in {text}"))?;
            let name = &after[..end];
            out.push_str(&if name.contains('.') {
                self.attribute(name)?
            } else {
                self.reference(name)?
            });
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        match name {
            "AWS::Partition" => Some("aws".into()),
            "AWS::Region" => Some(self.names.region.clone()),
            "AWS::AccountId" => Some(self.names.account.clone()),
            "AWS::StackName" => Some("sbx".into()),
            "AWS::URLSuffix" => Some("amazonaws.com".into()),
            _ => None,
        }
    }
}

/// `LaunchInstances` → `launch-instances`.
fn kebab(pascal: &str) -> String {
    let mut out = String::new();
    for (i, c) in pascal.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            tables: [("SandboxesTable", "sbx-sandboxes"), ("LocksTable", "sbx-locks")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into(),
            parameters: [("OrganizationId".to_owned(), "o-abcdefghij".to_owned())].into(),
            resources: BTreeMap::new(),
        }
    }

    const TEMPLATE: &str = r#"
Parameters:
  ProvisioningRoleName:
    Type: String
    Default: sbx-provisioning
Resources:
  AcquireLockFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-acquire-lock"
      Role: !GetAtt AcquireLockRole.Arn
  AcquireLockRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: acquire-lock
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: [dynamodb:PutItem]
                Resource:
                  - !GetAtt LocksTable.Arn
                  - !Sub "${SandboxesTable.Arn}/index/*"
              - Effect: Allow
                Action: sts:AssumeRole
                Resource: !Sub "arn:${AWS::Partition}:iam::*:role/${ProvisioningRoleName}"
                Condition:
                  StringEquals:
                    aws:ResourceOrgID: !Ref OrganizationId
              - Effect: Allow
                Action: states:StartExecution
                Resource:
                  - !Ref DeleteStateMachine
                  - !Sub "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-deliver"
"#;

    #[test]
    fn a_role_is_read_with_its_names_resolved_and_its_function() {
        let roles = Roles::read(TEMPLATE, &names()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            roles.functions.get("acquire-lock").map(String::as_str),
            Some("AcquireLockRole")
        );
        let role = roles.role("AcquireLockRole").unwrap_or_else(|| panic!("no role"));
        let statements = &role.policies["acquire-lock"]["Statement"];
        assert_eq!(
            statements[0]["Resource"],
            serde_json::json!([
                "arn:aws:dynamodb:us-east-1:123456789012:table/sbx-locks",
                "arn:aws:dynamodb:us-east-1:123456789012:table/sbx-sandboxes/index/*"
            ])
        );
        assert_eq!(statements[1]["Resource"], "arn:aws:iam::*:role/sbx-provisioning");
        assert_eq!(
            statements[1]["Condition"]["StringEquals"]["aws:ResourceOrgID"],
            "o-abcdefghij"
        );
        assert_eq!(
            statements[2]["Resource"],
            serde_json::json!([
                "arn:aws:states:us-east-1:123456789012:stateMachine:delete",
                "arn:aws:states:us-east-1:123456789012:stateMachine:deliver"
            ])
        );
    }

    #[test]
    fn an_unknown_reference_is_an_error_not_a_guess() {
        let text = TEMPLATE.replace("!Ref DeleteStateMachine", "!Ref SomethingElse");
        let err = Roles::read(&text, &names())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("SomethingElse"), "{err}");
    }

    #[test]
    fn the_real_template_resolves_locally() {
        let mut names = names();
        for table in ["Sandboxes", "Events", "Tenants", "Locks", "Accounts"] {
            names
                .tables
                .insert(format!("{table}Table"), format!("sbx-{}", table.to_lowercase()));
        }
        for (name, value) in [
            (
                "UserPool.Arn",
                "arn:aws:cognito-idp:us-east-1:123456789012:userpool/p",
            ),
            (
                "EventBus.Arn",
                "arn:aws:events:us-east-1:123456789012:event-bus/sbx",
            ),
            (
                "PageTokenSecret",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:p",
            ),
            (
                "OriginSecret",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:o",
            ),
            (
                "ParkedEventsQueue.Arn",
                "arn:aws:sqs:us-east-1:123456789012:sbx-parked-events",
            ),
        ] {
            names.resources.insert(name.to_owned(), value.to_owned());
        }
        for image in ["AcpImageId", "OcpImageId", "ProxyImageId"] {
            names.parameters.insert(image.to_owned(), "ami-1".to_owned());
        }
        let text = include_str!("../../../../infra/template.yaml");
        let roles = Roles::read(text, &names).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(roles.roles.len(), 43);
        for function in sbx_steps::FUNCTIONS
            .iter()
            .chain(sbx_api::routes::FUNCTIONS.iter())
        {
            assert!(roles.functions.contains_key(*function), "{function} has no role");
        }
        assert_eq!(roles.state_machines.len(), 7);
    }
}
