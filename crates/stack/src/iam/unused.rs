//! No more than enough: the actions a role allows that no test used.
//!
//! The enforcer appends each (role, action) it allowed to a usage log (`SBX_IAM_USAGE`);
//! `sbx-local iam-unused` reads every log of a test run and each role's policies as written in
//! the templates, and lists per role the actions nothing used. Each must be removed, or
//! justified by a comment on its own line in the template (`- ce:GetCostAndUsage  # why`).
//! Roles that nothing ran under locally (the state machines' and the schedules', whose callers
//! the local engine does not sign) are listed apart.

use std::collections::{BTreeMap, BTreeSet};

/// An action a role allows, as written. (Usage logs also hold `DENIED role action resource`
/// lines: what was refused.)
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub action: String,
    /// The comment on its line, if any: the reason it stays though unused.
    pub justification: Option<String>,
}

/// Each role's actions in `template`, by the role's name in the usage logs (its logical id, or
/// `names` for a role whose name is set).
pub fn grants(template: &str, names: &BTreeMap<&str, &str>) -> BTreeMap<String, BTreeSet<Grant>> {
    let mut roles: BTreeMap<String, BTreeSet<Grant>> = BTreeMap::new();
    let mut role: Option<String> = None;
    let mut in_policies = false;
    let mut pending: Option<String> = None;
    for line in template.lines() {
        if let Some(id) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !id.starts_with(' ') && !id.contains(' ') {
                pending = Some(names.get(id).map_or(id, |n| n).to_owned());
                role = None;
                in_policies = false;
                continue;
            }
        }
        let trimmed = line.trim();
        if trimmed == "Type: AWS::IAM::Role" {
            role = pending.take();
            continue;
        }
        let Some(name) = &role else { continue };
        if trimmed == "Policies:" {
            in_policies = true;
            continue;
        }
        if !in_policies {
            continue;
        }
        let (code, comment) = match trimmed.split_once(" #") {
            Some((code, comment)) => (code.trim(), Some(comment.trim().to_owned())),
            None => (trimmed, None),
        };
        let action = code
            .strip_prefix("- ")
            .or_else(|| code.strip_prefix("Action: "))
            .map(|a| a.trim_matches('"'));
        if let Some(action) = action.filter(|a| is_action(a)) {
            roles.entry(name.clone()).or_default().insert(Grant {
                action: action.to_owned(),
                justification: comment,
            });
        }
    }
    roles
}

/// `dynamodb:PutItem`, not an ARN, a reference or `*`.
fn is_action(text: &str) -> bool {
    let Some((service, action)) = text.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !action.is_empty()
        && action.chars().all(|c| c.is_ascii_alphanumeric() || c == '*')
}

/// The (role, action) pairs of every usage log in `dir`.
pub fn used(dir: &std::path::Path) -> std::io::Result<BTreeSet<(String, String)>> {
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            if line.starts_with("DENIED ") {
                continue;
            }
            if let Some((role, action)) = line.split_once(' ') {
                used.insert((role.to_owned(), action.to_owned()));
            }
        }
    }
    Ok(used)
}

/// What the check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Role → actions allowed, unused and not justified.
    pub unjustified: BTreeMap<String, Vec<String>>,
    /// Role → (action, reason) allowed, unused, justified.
    pub justified: BTreeMap<String, Vec<(String, String)>>,
    /// Roles nothing ran under.
    pub not_run: Vec<String>,
}

pub fn check(grants: &BTreeMap<String, BTreeSet<Grant>>, used: &BTreeSet<(String, String)>) -> Report {
    let ran: BTreeSet<&str> = used.iter().map(|(role, _)| role.as_str()).collect();
    let mut report = Report::default();
    for (role, allowed) in grants {
        if !ran.contains(role.as_str()) {
            report.not_run.push(role.clone());
            continue;
        }
        for grant in allowed {
            if used.contains(&(role.clone(), grant.action.clone())) {
                continue;
            }
            match &grant.justification {
                Some(reason) => report
                    .justified
                    .entry(role.clone())
                    .or_default()
                    .push((grant.action.clone(), reason.clone())),
                None => report
                    .unjustified
                    .entry(role.clone())
                    .or_default()
                    .push(grant.action.clone()),
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "Resources:
  ThingRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Action: sts:AssumeRole
      Policies:
        - PolicyName: thing
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action:
                  - dynamodb:GetItem
                  - dynamodb:DeleteItem
                  - ce:GetCostAndUsage  # no Cost Explorer emulator
                Resource:
                  - !GetAtt T.Arn
                  - \"*\"
              - Effect: Allow
                Action: states:StartExecution
                Resource: \"*\"
  OtherRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: other
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: lambda:InvokeFunction
                Resource: \"*\"
";

    #[test]
    fn unused_actions_are_listed_unless_justified_and_trust_policies_are_not_grants() {
        let grants = grants(TEMPLATE, &BTreeMap::new());
        let thing: Vec<&str> = grants["ThingRole"].iter().map(|g| g.action.as_str()).collect();
        assert_eq!(
            thing,
            [
                "ce:GetCostAndUsage",
                "dynamodb:DeleteItem",
                "dynamodb:GetItem",
                "states:StartExecution"
            ]
        );
        let used = BTreeSet::from([
            ("ThingRole".to_owned(), "dynamodb:GetItem".to_owned()),
            ("ThingRole".to_owned(), "states:StartExecution".to_owned()),
        ]);
        let report = check(&grants, &used);
        assert_eq!(report.unjustified["ThingRole"], ["dynamodb:DeleteItem"]);
        assert_eq!(
            report.justified["ThingRole"],
            [(
                "ce:GetCostAndUsage".to_owned(),
                "no Cost Explorer emulator".to_owned()
            )]
        );
        assert_eq!(report.not_run, ["OtherRole"]);
    }
}
