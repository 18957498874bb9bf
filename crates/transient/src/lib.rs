//! Whether a failed AWS call may succeed if it is made again: the one place sbx decides it.
//!
//! Transient: the call could not be sent or its answer did not arrive (a timeout, a refused or
//! reset connection, an answer cut off), the service answered 5xx or 429, or with one of the
//! throttling and contention codes below. A 5xx whose body names no code (a proxy's or a load
//! balancer's plain 503) is transient by its status alone. Everything else (a 4xx with a code
//! of the service's own) is the caller's to act on.
//!
//! A transient error after the request was sent is also **ambiguous**: the call may have taken
//! effect. Retrying it is safe only for a call that is idempotent by itself, carries a client
//! token, or is preceded by a look for what an earlier try made.

use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The retry partition of every sbx client: the SDK's own retries without a retry quota.
///
/// By default every client of a service in a process shares one token bucket of 500, from
/// which each retry that fails again takes 5 and which never refills. A process that lives
/// long (a warm Lambda, the local stack) under a steady share of throttling or lost answers
/// drains it, and from then on the SDK retries nothing: every fault reaches the steps. The
/// state machines' own Retry (with backoff and jitter) is what bounds the load; the SDK's
/// attempts per call stay bounded by its `max_attempts`.
pub fn retry_partition() -> RetryPartition {
    RetryPartition::custom("sbx")
        .token_bucket(TokenBucket::unlimited())
        .build()
}

/// A client of the SDK crate `$sdk` on the `SdkConfig` `$config`, in [`retry_partition`]:
/// `sbx_transient::client!(aws_sdk_ec2, &config)`.
#[macro_export]
macro_rules! client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .retry_partition($crate::retry_partition())
                .build(),
        )
    };
}

/// Error codes that mean "try again later", across the services sbx calls.
pub const TRANSIENT_CODES: &[&str] = &[
    // Throttling, in each service's words.
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceededException",
    "LimitExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    // Server-side failures that name a code.
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerErrorException",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "ServiceException",
    // Contention and capacity that pass.
    "InsufficientInstanceCapacity",
    "IncorrectState",
    // An instance between states (a start repeated while the first one's stop finishes).
    "IncorrectInstanceState",
    "ConcurrentModificationException",
    "ConcurrentModification",
    "TransactionInProgressException",
    "TransactionConflict",
    "ExpiredToken",
    "RequestExpired",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether `code` (an AWS error code) means "try again later".
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// Whether an HTTP status means "try again later".
pub fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 429
}

/// Whether the call that failed with `err` may succeed if it is made again.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            is_transient_status(service.raw().status().as_u16())
                || service.err().code().is_some_and(is_transient_code)
        }
        // The request could not be built: it never left, and never will as it is.
        _ => false,
    }
}

/// Whether the call may have taken effect although it failed: its request was (or may have
/// been) sent and no definite answer came back.
pub fn is_ambiguous<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        // A dispatch failure may be a connection reset after the request went out.
        SdkError::DispatchFailure(failure) => !failure.is_user(),
        SdkError::ServiceError(service) => service.raw().status().is_server_error(),
        _ => false,
    }
}

/// The error code of `err`, `"Unknown"` when the service named none.
pub fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> &str {
    match err {
        SdkError::ServiceError(service) => service.err().code().unwrap_or("Unknown"),
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    //! One test per service sbx calls, each with the codes that service throttles and fails
    //! with, as the SDK parses them: the error's metadata and the raw status.
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn raw(status: u16) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).unwrap_or_else(|e| panic!("{e}")),
            SdkBody::empty(),
        )
    }

    fn metadata(code: Option<&str>) -> ErrorMetadata {
        let builder = ErrorMetadata::builder().message("from the test");
        match code {
            Some(code) => builder.code(code).build(),
            None => builder.build(),
        }
    }

    /// Asserts the classification of each `(status, code, transient)` for one service's error.
    fn check<E: ProvideErrorMetadata + std::fmt::Debug>(
        service: &str,
        make: impl Fn(ErrorMetadata) -> E,
        cases: &[(u16, Option<&str>, bool)],
    ) {
        for &(status, error_code, transient) in cases {
            let err = SdkError::service_error(make(metadata(error_code)), raw(status));
            assert_eq!(
                is_transient(&err),
                transient,
                "{service}: {status} {error_code:?} should be transient: {transient}"
            );
            assert_eq!(code(&err), error_code.unwrap_or("Unknown"));
        }
    }

    #[test]
    fn ec2() {
        use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError as E;
        check(
            "ec2",
            E::generic,
            &[
                (503, Some("RequestLimitExceeded"), true),
                (500, Some("InternalError"), true),
                (503, Some("Unavailable"), true),
                (503, None, true),
                (400, Some("InsufficientInstanceCapacity"), true),
                (400, Some("InvalidVpcID.NotFound"), false),
                (400, Some("InvalidParameterValue"), false),
            ],
        );
    }

    #[test]
    fn elastic_load_balancing() {
        use aws_sdk_elasticloadbalancingv2::operation::create_target_group::CreateTargetGroupError as E;
        check(
            "elbv2",
            E::generic,
            &[
                (400, Some("Throttling"), true),
                (500, Some("InternalFailure"), true),
                (503, None, true),
                (400, Some("DuplicateTargetGroupName"), false),
                (400, Some("TargetGroupNotFound"), false),
            ],
        );
    }

    #[test]
    fn ssm() {
        use aws_sdk_ssm::operation::send_command::SendCommandError as E;
        check(
            "ssm",
            E::generic,
            &[
                (400, Some("ThrottlingException"), true),
                (500, Some("InternalServerError"), true),
                (502, None, true),
                (400, Some("InvalidInstanceId"), false),
            ],
        );
    }

    #[test]
    fn iam() {
        use aws_sdk_iam::operation::create_role::CreateRoleError as E;
        check(
            "iam",
            E::generic,
            &[
                (400, Some("Throttling"), true),
                (500, Some("ServiceFailure"), true),
                (409, Some("ConcurrentModification"), true),
                (409, Some("EntityAlreadyExists"), false),
            ],
        );
    }

    #[test]
    fn organizations() {
        use aws_sdk_organizations::operation::create_account::CreateAccountError as E;
        check(
            "organizations",
            E::generic,
            &[
                (400, Some("TooManyRequestsException"), true),
                (400, Some("ConcurrentModificationException"), true),
                (500, Some("ServiceException"), true),
                (400, Some("DuplicateAccountException"), false),
            ],
        );
    }

    #[test]
    fn resource_groups_tagging() {
        use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesError as E;
        check(
            "tagging",
            E::generic,
            &[
                (400, Some("ThrottledException"), true),
                (500, Some("InternalServiceException"), true),
                (400, Some("InvalidParameterException"), false),
            ],
        );
    }

    #[test]
    fn appstream() {
        use aws_sdk_appstream::operation::stop_fleet::StopFleetError as E;
        check(
            "appstream",
            E::generic,
            &[
                (400, Some("ConcurrentModificationException"), true),
                (400, Some("LimitExceededException"), true),
                (503, None, true),
                (400, Some("ResourceNotFoundException"), false),
            ],
        );
    }

    #[test]
    fn dynamodb() {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        check(
            "dynamodb",
            E::generic,
            &[
                (400, Some("ProvisionedThroughputExceededException"), true),
                (400, Some("ThrottlingException"), true),
                (400, Some("RequestLimitExceeded"), true),
                (400, Some("TransactionInProgressException"), true),
                (500, Some("InternalServerError"), true),
                (503, None, true),
                (400, Some("ConditionalCheckFailedException"), false),
                (400, Some("ValidationException"), false),
            ],
        );
    }

    #[test]
    fn step_functions() {
        use aws_sdk_sfn::operation::start_execution::StartExecutionError as E;
        check(
            "sfn",
            E::generic,
            &[
                (400, Some("ThrottlingException"), true),
                (500, None, true),
                (400, Some("ExecutionAlreadyExists"), false),
                (400, Some("InvalidExecutionInput"), false),
            ],
        );
    }

    #[test]
    fn cognito() {
        use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError as E;
        check(
            "cognito",
            E::generic,
            &[
                (400, Some("TooManyRequestsException"), true),
                (500, Some("InternalErrorException"), true),
                (400, Some("NotAuthorizedException"), false),
                (400, Some("UserNotFoundException"), false),
            ],
        );
    }

    #[test]
    fn calls_without_an_answer_are_transient_and_ambiguous() {
        use aws_sdk_ec2::operation::run_instances::RunInstancesError as E;
        let timeout: SdkError<E, HttpResponse> = SdkError::timeout_error("no answer in time");
        assert!(is_transient(&timeout) && is_ambiguous(&timeout));
        let cut: SdkError<E, HttpResponse> = SdkError::response_error("connection reset", raw(200));
        assert!(is_transient(&cut) && is_ambiguous(&cut));
        let lost = SdkError::service_error(E::generic(metadata(None)), raw(503));
        assert!(
            is_transient(&lost) && is_ambiguous(&lost),
            "a 503 may come after the call took effect"
        );
        let throttled = SdkError::service_error(E::generic(metadata(Some("ThrottlingException"))), raw(400));
        assert!(
            is_transient(&throttled) && !is_ambiguous(&throttled),
            "a throttled call did nothing"
        );
        let refused = SdkError::service_error(E::generic(metadata(Some("InvalidParameterValue"))), raw(400));
        assert!(!is_transient(&refused) && !is_ambiguous(&refused));
        let unbuilt: SdkError<E, HttpResponse> = SdkError::construction_failure("no region");
        assert!(!is_transient(&unbuilt) && !is_ambiguous(&unbuilt));
    }
}
