//! What an AWS call can fail with, classified for the state machines: transient or not, and the
//! service's error code so that callers can tolerate a resource that is gone already.

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{operation} failed: {code}: {message}")]
    Api {
        operation: &'static str,
        code: String,
        message: String,
        transient: bool,
    },

    /// AWS has not caught up yet: the same call is expected to succeed within minutes (a new
    /// id not visible yet, an SSM agent not registered, an interface still attached).
    #[error("{operation}: not yet: {code}: {message}")]
    NotYet {
        operation: &'static str,
        code: String,
        message: String,
    },

    #[error("{operation} could not be sent: {message}")]
    Unreachable {
        operation: &'static str,
        message: String,
    },

    #[error("image {image_id} cannot be used: {message}")]
    ImageNotFound { image_id: String, message: String },

    #[error("installing the constellations failed: {0}")]
    CommandFailed(String),

    /// A resource that this step needs and an earlier step should have made does not exist.
    #[error("{0}")]
    Missing(String),

    #[error("no free {what} is left in {within}")]
    Exhausted { what: &'static str, within: String },
}

impl AwsError {
    /// Wraps an SDK error of any AWS service.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let transient = sbx_transient::is_transient(&err);
        match &err {
            SdkError::ServiceError(_) => {
                let code = sbx_transient::code(&err).to_owned();
                let message = err.message().unwrap_or_default().to_owned();
                AwsError::Api {
                    operation,
                    code,
                    message,
                    transient,
                }
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                AwsError::Unreachable {
                    operation,
                    message: format!("{}", aws_sdk_ec2::error::DisplayErrorContext(&err)),
                }
            }
            _ => AwsError::Api {
                operation,
                code: "Unknown".into(),
                message: format!("{}", aws_sdk_ec2::error::DisplayErrorContext(&err)),
                transient,
            },
        }
    }

    /// The service's error code, e.g. `InvalidInstanceID.NotFound`.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } | AwsError::NotYet { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn has_code(&self, codes: &[&str]) -> bool {
        self.code().is_some_and(|code| codes.contains(&code))
    }

    /// Whether the account's service quota refused the call (a new account's limits are low):
    /// not worth repeating until the quota is raised.
    pub fn is_quota(&self) -> bool {
        self.has_code(&QUOTA_CODES)
    }

    /// Whether the same call may succeed if repeated later.
    pub fn is_transient(&self) -> bool {
        match self {
            AwsError::Api { transient, .. } => *transient,
            AwsError::Unreachable { .. } | AwsError::NotYet { .. } => true,
            _ => false,
        }
    }

    /// This error as "not yet" when its code is one of `codes`: for the call that failed, those
    /// codes mean that AWS has not caught up with an earlier change.
    pub fn not_yet(self, codes: &[&str]) -> AwsError {
        match self {
            AwsError::Api {
                operation,
                code,
                message,
                ..
            } if codes.contains(&code.as_str()) => AwsError::NotYet {
                operation,
                code,
                message,
            },
            other => other,
        }
    }
}

/// `map_err` adapter: the SDK error of `operation`, with `codes` read as "not yet".
pub(crate) fn sdk_not_yet<E>(
    operation: &'static str,
    codes: &'static [&'static str],
) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| AwsError::from_sdk(operation, err).not_yet(codes)
}

/// The codes with which EC2 and ELB refuse a call over the account's service quota.
pub const QUOTA_CODES: [&str; 9] = [
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "AddressLimitExceeded",
    "NatGatewayLimitExceeded",
    "VpcLimitExceeded",
    "TooManyLoadBalancers",
    "TooManyTargetGroups",
    "TooManyListeners",
    "TooManyRules",
];

/// `map_err` adapter: `.map_err(sdk("RunInstances"))`.
pub(crate) fn sdk<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| AwsError::from_sdk(operation, err)
}

/// `Ok(None)` for an error with one of `codes` (the resource is gone), the error otherwise.
pub(crate) fn gone<T>(result: Result<T, AwsError>, codes: &[&str]) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.has_code(codes) => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_matched_and_classified() {
        let err = AwsError::Api {
            operation: "TerminateInstances",
            code: "InvalidInstanceID.NotFound".into(),
            message: "gone".into(),
            transient: false,
        };
        assert!(err.has_code(&["InvalidInstanceID.NotFound"]));
        assert!(!err.is_transient());
        assert!(matches!(
            gone::<()>(Err(err), &["InvalidInstanceID.NotFound"]),
            Ok(None)
        ));
        let unreachable = AwsError::Unreachable {
            operation: "RunInstances",
            message: "connection refused".into(),
        };
        assert!(unreachable.is_transient());
        let quota = AwsError::Api {
            operation: "RunInstances",
            code: "InstanceLimitExceeded".into(),
            message: "more instances than your current instance limit of 2 allows".into(),
            transient: false,
        };
        assert!(quota.is_quota() && !quota.is_transient());
    }
}
