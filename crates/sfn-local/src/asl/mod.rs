//! The state machine definition: parsed from ASL JSON and validated as Step Functions does when
//! a state machine is created. Every problem is reported with its rule and its location.
//!
//! - [`model`]: the definition as the engine runs it;
//! - [`parser`]: reading the JSON into the model, field by field;
//! - [`validate`]: the rules across states (reachability, transitions, paths, templates).

mod model;
mod parser;
mod validate;

pub use model::*;
use parser::Parser;
use serde_json::Value;

/// What a definition may not be, each with the rule's code and location, as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid State Machine Definition: '{}'", .0.join(", "))]
pub struct InvalidDefinition(pub Vec<String>);

/// Parses and validates a definition.
pub fn parse(text: &str) -> Result<Definition, InvalidDefinition> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| InvalidDefinition(vec![format!("INVALID_JSON_DESCRIPTION: {e}")]))?;
    let mut errors = Vec::new();
    let Some(object) = value.as_object() else {
        return Err(InvalidDefinition(vec![
            "SCHEMA_VALIDATION_FAILED: the definition must be a JSON object at /".into(),
        ]));
    };
    if let Some(language) = object.get("QueryLanguage").and_then(Value::as_str)
        && language != "JSONPath"
    {
        errors.push(format!(
            "SCHEMA_VALIDATION_FAILED: QueryLanguage {language} is not supported by this engine (JSONPath only) at /QueryLanguage"
        ));
    }
    let definition = Parser { errors: &mut errors }.machine(object, "");
    match definition {
        Some(definition) if errors.is_empty() => Ok(definition),
        _ => Err(InvalidDefinition(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => Vec::new(),
            Err(InvalidDefinition(errors)) => errors,
        }
    }

    fn has(text: &str, expected: &str) {
        let found = errors(text);
        assert!(
            found.iter().any(|e| e.contains(expected)),
            "expected {expected:?} in {found:?}"
        );
    }

    #[test]
    fn a_valid_definition_parses() {
        let text = r#"{"StartAt":"A","States":{
            "A":{"Type":"Pass","Next":"B"},
            "B":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericGreaterThan":1,"Next":"C"}],"Default":"D"},
            "C":{"Type":"Succeed"},
            "D":{"Type":"Fail","Error":"E","Cause":"c"}}}"#;
        assert_eq!(errors(text), Vec::<String>::new());
    }

    #[test]
    fn errors_name_the_state_and_the_rule() {
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nope"}}}"#,
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: Nope at /States/A/Next",
        );
        has(
            r#"{"StartAt":"Z","States":{"A":{"Type":"Pass","End":true}}}"#,
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: Z at /StartAt",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}"#,
            "UNREACHABLE_STATE: State 'B' is not reachable at /States/B",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}}}"#,
            "MISSING_TERMINAL_STATE",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true,
                "Catch":[{"ErrorEquals":["States.ALL"],"Next":"B"},{"ErrorEquals":["X"],"Next":"B"}]},"B":{"Type":"Succeed"}}}"#,
            "States.ALL must appear alone in ErrorEquals, in the last retrier or catcher at /States/A/Catch[0]/ErrorEquals",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass"}}}"#,
            "must have exactly one of 'Next' or 'End: true'",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Resource":"x"}}}"#,
            "The field 'Resource' is not supported by Pass states at /States/A/Resource",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Nope","End":true}}}"#,
            "'Nope' is not a valid state Type",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"ResultPath":"$.a[*]"}}}"#,
            "INVALID_REFERENCE_PATH",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"Parameters":{"x.$":"States.Nope()"}}}}"#,
            "unknown intrinsic function",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Next":"J"}}}}}}"#,
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: J at /States/A/ItemProcessor/States/I/Next",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Wait","End":true}}}"#,
            "exactly one of Seconds",
        );
        has(
            r#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","StringEquals":1,"Next":"A"}]}}}"#,
            "The value of 'StringEquals' has the wrong type",
        );
        has("[1]", "must be a JSON object");
        has("{", "INVALID_JSON_DESCRIPTION");
    }
}
