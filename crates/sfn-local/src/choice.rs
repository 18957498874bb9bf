//! Choice rules: comparisons, type tests, And/Or/Not.

use crate::asl::{Condition, Op, Operand};
use crate::error::Failure;
use crate::path::{self, PathError};
use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// Whether `condition` holds for `input`. A path that does not exist is a runtime error, except
/// for `IsPresent`; a value of the wrong type simply does not match.
pub fn holds(condition: &Condition, input: &Value) -> Result<bool, Failure> {
    match condition {
        Condition::And(all) => {
            for c in all {
                if !holds(c, input)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(any) => {
            for c in any {
                if holds(c, input)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(inner) => Ok(!holds(inner, input)?),
        Condition::Test {
            variable,
            op,
            operand,
        } => {
            let found = path::query(variable, input);
            if *op == Op::IsPresent {
                let expected = matches!(operand, Operand::Value(Value::Bool(true)));
                return Ok(found.is_ok() == expected);
            }
            let value = found.map_err(|e| invalid(variable, &e))?;
            let operand = match operand {
                Operand::Value(v) => v.clone(),
                Operand::Path(p) => path::query(p, input).map_err(|e| invalid(p, &e))?,
            };
            Ok(compare(*op, &value, &operand))
        }
    }
}

fn invalid(path: &str, err: &PathError) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{path}': The choice state's condition path references an invalid value ({err})."
    ))
}

fn compare(op: Op, value: &Value, operand: &Value) -> bool {
    let is = |expected: bool| operand.as_bool() == Some(expected);
    match op {
        Op::IsNull => is(value.is_null()),
        Op::IsNumeric => is(value.is_number()),
        Op::IsString => is(value.is_string()),
        Op::IsBoolean => is(value.is_boolean()),
        Op::IsTimestamp => is(timestamp(value).is_some()),
        Op::IsPresent => is(true),
        Op::BooleanEquals => value.is_boolean() && value == operand,
        Op::StringMatches => match (value.as_str(), operand.as_str()) {
            (Some(text), Some(pattern)) => glob(pattern, text),
            _ => false,
        },
        Op::StringEquals
        | Op::StringLessThan
        | Op::StringGreaterThan
        | Op::StringLessThanEquals
        | Op::StringGreaterThanEquals => match (value.as_str(), operand.as_str()) {
            (Some(a), Some(b)) => ordered(op, a.cmp(b)),
            _ => false,
        },
        Op::NumericEquals
        | Op::NumericLessThan
        | Op::NumericGreaterThan
        | Op::NumericLessThanEquals
        | Op::NumericGreaterThanEquals => match (value.as_f64(), operand.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).is_some_and(|o| ordered(op, o)),
            _ => false,
        },
        Op::TimestampEquals
        | Op::TimestampLessThan
        | Op::TimestampGreaterThan
        | Op::TimestampLessThanEquals
        | Op::TimestampGreaterThanEquals => match (timestamp(value), timestamp(operand)) {
            (Some(a), Some(b)) => ordered(op, a.cmp(&b)),
            _ => false,
        },
    }
}

/// The ordering a comparison operator asks for.
fn ordered(op: Op, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::StringEquals | Op::NumericEquals | Op::TimestampEquals => ordering == Equal,
        Op::StringLessThan | Op::NumericLessThan | Op::TimestampLessThan => ordering == Less,
        Op::StringGreaterThan | Op::NumericGreaterThan | Op::TimestampGreaterThan => ordering == Greater,
        Op::StringLessThanEquals | Op::NumericLessThanEquals | Op::TimestampLessThanEquals => {
            ordering != Greater
        }
        _ => ordering != Less,
    }
}

fn timestamp(value: &Value) -> Option<DateTime<FixedOffset>> {
    value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

/// `*` matches any run of characters; `\*` is a literal star and `\\` a literal backslash.
fn glob(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Token {
        Star,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(Token::Star),
            c => tokens.push(Token::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // Classic wildcard matching with backtracking to the last star.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Token::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| *token == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test(op: Op, variable: &str, operand: Value) -> Condition {
        Condition::Test {
            variable: variable.into(),
            op,
            operand: Operand::Value(operand),
        }
    }

    fn check(condition: &Condition, input: &Value) -> bool {
        holds(condition, input).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn comparisons_follow_their_types() {
        let input = json!({"s": "b", "n": 5, "b": true, "t": "2026-01-01T00:00:00Z", "z": null, "other": 5});
        assert!(check(&test(Op::StringEquals, "$.s", json!("b")), &input));
        assert!(check(&test(Op::StringLessThan, "$.s", json!("c")), &input));
        assert!(check(
            &test(Op::StringGreaterThanEquals, "$.s", json!("b")),
            &input
        ));
        assert!(
            !check(&test(Op::StringEquals, "$.n", json!("5")), &input),
            "a number is not a string"
        );
        assert!(check(&test(Op::NumericEquals, "$.n", json!(5.0)), &input));
        assert!(check(&test(Op::NumericLessThanEquals, "$.n", json!(5)), &input));
        assert!(!check(&test(Op::NumericGreaterThan, "$.n", json!(5)), &input));
        assert!(check(&test(Op::BooleanEquals, "$.b", json!(true)), &input));
        assert!(check(
            &test(Op::TimestampLessThan, "$.t", json!("2026-01-01T00:00:01Z")),
            &input
        ));
        assert!(check(
            &test(Op::TimestampEquals, "$.t", json!("2026-01-01T01:00:00+01:00")),
            &input
        ));
        assert!(check(&test(Op::IsNull, "$.z", json!(true)), &input));
        assert!(check(&test(Op::IsPresent, "$.missing", json!(false)), &input));
        assert!(check(&test(Op::IsNumeric, "$.n", json!(true)), &input));
        assert!(check(&test(Op::IsTimestamp, "$.t", json!(true)), &input));
        assert!(check(&test(Op::IsString, "$.n", json!(false)), &input));
        let by_path = Condition::Test {
            variable: "$.n".into(),
            op: Op::NumericEquals,
            operand: Operand::Path("$.other".into()),
        };
        assert!(check(&by_path, &input));
        let not = Condition::Not(Box::new(test(Op::StringEquals, "$.s", json!("b"))));
        assert!(!check(&not, &input));
        assert!(check(
            &Condition::Or(vec![not.clone(), test(Op::IsBoolean, "$.b", json!(true))]),
            &input
        ));
        assert!(!check(
            &Condition::And(vec![not, test(Op::IsBoolean, "$.b", json!(true))]),
            &input
        ));
    }

    #[test]
    fn a_missing_variable_is_a_runtime_error() {
        let err = holds(&test(Op::StringEquals, "$.missing", json!("x")), &json!({}));
        assert_eq!(err.map_err(|e| e.error), Err(crate::error::RUNTIME.to_owned()));
    }

    #[test]
    fn string_matches_supports_wildcards_and_escapes() {
        assert!(glob("log-*.txt", "log-2026.txt"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b", "ac"));
        assert!(glob("\\*star", "*star"));
        assert!(!glob("\\*star", "xstar"));
        assert!(glob("back\\\\slash", "back\\slash"));
    }
}
