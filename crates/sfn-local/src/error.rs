//! ASL errors: a name and a cause, as states raise them and Retry/Catch match them.

use serde_json::{Value, json};

pub const ALL: &str = "States.ALL";
pub const TASK_FAILED: &str = "States.TaskFailed";
pub const TIMEOUT: &str = "States.Timeout";
pub const RUNTIME: &str = "States.Runtime";
pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
pub const BRANCH_FAILED: &str = "States.BranchFailed";

/// The largest state input, output or task result, in bytes of UTF-8 (256 KiB).
pub const PAYLOAD_LIMIT: usize = 256 * 1024;

/// An error raised while running a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(RUNTIME, cause)
    }

    /// `{"Error": ..., "Cause": ...}`, what a Catch passes on.
    pub fn to_value(&self) -> Value {
        json!({"Error": self.error, "Cause": self.cause})
    }

    /// Whether a Retry or Catch listing `names` handles this error.
    pub fn matches(&self, names: &[String]) -> bool {
        names.iter().any(|name| match name.as_str() {
            // A runtime error is never retried or caught.
            _ if self.error == RUNTIME => false,
            ALL => self.error != DATA_LIMIT_EXCEEDED,
            TASK_FAILED => self.error != TIMEOUT && self.error != DATA_LIMIT_EXCEEDED,
            other => other == self.error,
        })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

/// Fails with `States.DataLimitExceeded` when `value` is larger than the payload limit.
pub fn check_size(value: &Value, what: &str, state: &str) -> Result<(), Failure> {
    let size = serde_json::to_vec(value).map(|bytes| bytes.len()).unwrap_or(0);
    if size > PAYLOAD_LIMIT {
        return Err(Failure::new(
            DATA_LIMIT_EXCEEDED,
            format!(
                "The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit ({what}: {size} bytes, limit {PAYLOAD_LIMIT})."
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards_match_as_documented() {
        let custom = Failure::new("Custom.Error", "");
        assert!(custom.matches(&names(&[ALL])));
        assert!(custom.matches(&names(&[TASK_FAILED])));
        assert!(custom.matches(&names(&["Other", "Custom.Error"])));
        assert!(!custom.matches(&names(&["Custom"])));

        let timeout = Failure::new(TIMEOUT, "");
        assert!(timeout.matches(&names(&[ALL])));
        assert!(!timeout.matches(&names(&[TASK_FAILED])));

        let limit = Failure::new(DATA_LIMIT_EXCEEDED, "");
        assert!(!limit.matches(&names(&[ALL])));
        assert!(limit.matches(&names(&[DATA_LIMIT_EXCEEDED])));

        let runtime = Failure::runtime("bad path");
        assert!(!runtime.matches(&names(&[ALL, RUNTIME])));
    }
}
