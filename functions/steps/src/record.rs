//! `begin-operation` and `finish-operation`: the sandbox record's changes of state.
//!
//! An operation begun by the API (which answers 202 with the record) arrives with the version
//! it produced, and beginning it again is a no-op. An operator's execution from the console
//! arrives without one, and the step begins the operation itself.

use crate::error::StepError;
use crate::job::Job;
use sbx_lifecycle::{InstanceSize, NewSandbox, Operation, Outcome, SandboxOptions, State, rules};
use sbx_store::SandboxStore;
use serde::{Deserialize, Serialize};

/// What an execution was started with (the state machine's input).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub tenant: String,
    pub sandbox_id: String,
    /// The version the API's begin produced; absent when an operator starts the execution.
    #[serde(default)]
    pub version: Option<u64>,
    /// For create: the sandbox's name and options.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub amq: bool,
    #[serde(default)]
    pub smart_client: bool,
    #[serde(default)]
    pub constellations: Vec<String>,
    #[serde(default)]
    pub instance_size: InstanceSize,
    /// For create: hours until the sandbox expires.
    #[serde(default)]
    pub ttl_hours: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BeginInput {
    pub operation: Operation,
    pub execution: String,
    pub token: String,
    pub request: Request,
}

/// Checks what an execution asks for with the rules the API applies; the message names the field.
pub fn validate(request: &Request) -> Result<(), StepError> {
    let check = || -> Result<(), rules::Invalid> {
        rules::id("tenant", &request.tenant)?;
        rules::id("sandbox_id", &request.sandbox_id)?;
        if let Some(name) = &request.name {
            rules::name(name)?;
        }
        rules::constellations(&request.constellations)?;
        if let Some(hours) = request.ttl_hours {
            rules::ttl_hours(hours)?;
        }
        Ok(())
    };
    check().map_err(StepError::InvalidInput)
}

/// Begins the operation (or finds it begun) and returns the job the later steps carry.
pub async fn begin(store: &impl SandboxStore, input: BeginInput) -> Result<Job, StepError> {
    let BeginInput {
        operation,
        execution,
        token,
        request,
    } = input;
    validate(&request)?;
    let (tenant, id) = (request.tenant.as_str(), request.sandbox_id.as_str());
    let record = match (operation, request.version) {
        // Begun by the API: it must still be running at that version.
        (_, Some(version)) => {
            let record = store.get(tenant, id).await?;
            if record.state != operation.running() || record.version != version {
                return Err(StepError::Conflict(format!(
                    "sandbox {id} is {} at version {}, not {} at version {version}",
                    record.state,
                    record.version,
                    operation.running()
                )));
            }
            record
        }
        (Operation::Create, None) => {
            let options = SandboxOptions {
                amq: request.amq,
                smart_client: request.smart_client,
                constellations: request.constellations.clone(),
                instance_size: request.instance_size,
            };
            let hours = request.ttl_hours.unwrap_or(rules::DEFAULT_TTL_HOURS);
            let new = NewSandbox {
                tenant: tenant.to_owned(),
                id: id.to_owned(),
                name: request.name.clone().unwrap_or_else(|| id.to_owned()),
                options,
                expires_at: chrono::Utc::now() + chrono::Duration::hours(i64::from(hours)),
            };
            // The execution name is the idempotency key: a redelivered start creates nothing twice.
            store.create(new, Some(&token)).await?.sandbox
        }
        // An operator's: begun for this execution, so that a repeat after a lost answer finds
        // it begun rather than refused.
        (operation, None) => store.begin_as(tenant, id, operation, &token).await?,
    };
    // An operator's execution under a name of its own: the record says which it is, so that the
    // sweep checks this execution and not the one the version would name.
    let record = if request.version.is_none()
        && token != rules::execution_name(id, operation, record.version)
        && record.execution.as_deref() != Some(token.as_str())
    {
        match store
            .name_execution(tenant, id, operation, record.version, &token)
            .await
        {
            Ok(named) => named,
            Err(err) => {
                tracing::warn!(%err, sandbox = id, execution = %token, "the record could not name its execution");
                record
            }
        }
    } else {
        record
    };
    Ok(Job {
        tenant: record.tenant,
        sandbox_id: record.id,
        operation,
        version: record.version,
        execution,
        token,
        account_id: record.account_id,
        options: record.options,
    })
}

/// How the operation ended, as the state machine passes it: a Catch's `{Error, Cause}`.
#[derive(Debug, Clone, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// A workflow whose first step failed (its retries spent on a lost DynamoDB, say) names what it
/// was started with, so that the record the API (or a try of that step) may have moved is
/// marked failed, not left in its running state.
#[derive(Debug, Clone, Deserialize)]
pub struct Unbegun {
    pub operation: Operation,
    pub token: String,
    /// The execution's input as the state machine had it (the caught `error` beside it).
    #[serde(default, deserialize_with = "lenient")]
    pub request: UnbegunRequest,
}

/// What a failed first step's input says of its sandbox. The input may be what made that step
/// fail, so each field is read if it has the right type and left out if not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UnbegunRequest {
    #[serde(default, deserialize_with = "lenient")]
    pub tenant: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub sandbox_id: Option<String>,
    /// The record version the API began the operation at (none for an operator's).
    #[serde(default, deserialize_with = "lenient")]
    pub version: Option<u64>,
}

/// `T` when the value reads as one, the default otherwise: never an error.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// `MarkFailed`'s whole state, of which the cause reads one part: a step of the failure branch
/// that could not undo its part left its error in `compensationError`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FailureContext {
    #[serde(rename = "compensationError", default, deserialize_with = "lenient")]
    pub compensation_error: Option<CaughtError>,
}

/// A Lambda function's error document, as Step Functions puts it in a Cause.
#[derive(Debug, Deserialize)]
struct ErrorDocument {
    #[serde(rename = "errorMessage")]
    error_message: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FinishInput {
    /// The job `begin-operation` built; absent when it failed, and then `begun` is given.
    #[serde(default)]
    pub job: Option<Job>,
    #[serde(default)]
    pub begun: Option<Unbegun>,
    /// Absent: the operation succeeded.
    #[serde(default)]
    pub error: Option<CaughtError>,
    /// Where the sandbox is reached, from `register-ingress`: a create or start that succeeded
    /// records them.
    #[serde(default)]
    pub endpoints: Option<sbx_lifecycle::Endpoints>,
    /// `MarkFailed`'s whole state: a step of the failure branch that could not undo its part
    /// left its error in `compensationError`, which the cause then names.
    #[serde(default, deserialize_with = "lenient")]
    pub context: FailureContext,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinishOutput {
    pub state: State,
    pub version: u64,
}

/// Records the operation's outcome: its success state, or `failed` with the error's name and
/// cause.
pub async fn finish(store: &impl SandboxStore, input: FinishInput) -> Result<FinishOutput, StepError> {
    let not_undone = input.context.compensation_error;
    let outcome = match input.error {
        None => Outcome::Succeeded,
        Some(caught) => Outcome::Failed {
            cause: match not_undone {
                Some(left) => format!(
                    "{}; not undone: {}: {}",
                    readable_cause(&caught.cause),
                    left.error,
                    readable_cause(&left.cause)
                ),
                None => readable_cause(&caught.cause),
            },
            error: caught.error,
        },
    };
    let (tenant, id, operation, version) = match (input.job, input.begun) {
        (Some(job), _) => (job.tenant, job.sandbox_id, job.operation, job.version),
        (None, Some(begun)) => match begun_record(store, &begun).await? {
            Found::Ours(record) => (record.tenant, record.id, begun.operation, record.version),
            Found::NotOurs(record) => {
                return Ok(FinishOutput {
                    state: record.state,
                    version: record.version,
                });
            }
            Found::Nothing => {
                return Ok(FinishOutput {
                    state: State::Deleted,
                    version: 0,
                });
            }
        },
        (None, None) => return Err(StepError::InvalidInput("give job, or begun".into())),
    };
    let record = store
        .finish_with(&tenant, &id, operation, version, outcome, input.endpoints)
        .await?;
    Ok(FinishOutput {
        state: record.state,
        version: record.version,
    })
}

enum Found {
    /// Running the operation at the version this execution began (or the API began for it).
    Ours(sbx_lifecycle::Sandbox),
    /// In another state or version: not this execution's to mark.
    NotOurs(sbx_lifecycle::Sandbox),
    Nothing,
}

/// The record an execution whose first step failed may have moved.
async fn begun_record(store: &impl SandboxStore, begun: &Unbegun) -> Result<Found, StepError> {
    let request = &begun.request;
    let (tenant, id) = (
        request.tenant.as_deref().unwrap_or_default(),
        request.sandbox_id.as_deref().unwrap_or_default(),
    );
    if rules::id("tenant", tenant).is_err() || rules::id("sandbox_id", id).is_err() {
        return Ok(Found::Nothing);
    }
    let record = match store.get(tenant, id).await {
        Ok(record) => record,
        Err(sbx_store::StoreError::NotFound { .. }) => return Ok(Found::Nothing),
        Err(err) => return Err(err.into()),
    };
    let operation = begun.operation;
    let ours = record.state == operation.running()
        && match request.version {
            // The API began it at this version.
            Some(version) => record.version == version,
            // An operator's: named on the record, or by its version; a create by this
            // execution's name (its idempotency key) is the record's first version.
            None => match &record.execution {
                Some(named) => *named == begun.token,
                None => {
                    begun.token == rules::execution_name(id, operation, record.version)
                        || (operation == Operation::Create && record.version == 1)
                }
            },
        };
    Ok(if ours {
        Found::Ours(record)
    } else {
        Found::NotOurs(record)
    })
}

/// A Lambda error's cause is its error document; its message is what a person wants to read.
fn readable_cause(cause: &str) -> String {
    serde_json::from_str::<ErrorDocument>(cause)
        .map(|doc| doc.error_message)
        .unwrap_or_else(|_| cause.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        serde_json::from_value(serde_json::json!({"tenant": "acme", "sandbox_id": "s-1", "name": "demo"}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn requests_are_validated_field_by_field() {
        assert!(validate(&request()).is_ok());
        let mut bad = request();
        bad.tenant = "Acme Corp".into();
        assert!(matches!(validate(&bad), Err(StepError::InvalidInput(m)) if m.starts_with("tenant")));
        let mut bad = request();
        bad.constellations = vec!["ok".into(), "rm -rf /".into()];
        assert!(matches!(validate(&bad), Err(StepError::InvalidInput(m)) if m.starts_with("constellations")));
        let mut bad = request();
        bad.ttl_hours = Some(0);
        assert!(matches!(validate(&bad), Err(StepError::InvalidInput(m)) if m.starts_with("ttl_hours")));
        let unknown = serde_json::from_value::<Request>(
            serde_json::json!({"tenant": "a", "sandbox_id": "b", "colour": 1}),
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn a_lambda_error_document_reads_as_its_message() {
        assert_eq!(
            readable_cause(
                r#"{"errorType":"Sbx.ImageNotFound","errorMessage":"image ami-1 cannot be used"}"#
            ),
            "image ami-1 cannot be used"
        );
        assert_eq!(readable_cause("plain words"), "plain words");
    }

    fn begin_input(operation: &str, version: Option<u64>) -> BeginInput {
        let mut request =
            serde_json::json!({"tenant": "acme", "sandbox_id": "s1", "name": "demo", "amq": true});
        if let Some(version) = version {
            request["version"] = version.into();
        }
        serde_json::from_value(serde_json::json!({
            "operation": operation, "execution": "arn:exec:1", "token": "s1-op-1", "request": request,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn an_operator_create_makes_the_record_once() {
        let store = sbx_fakes::FakeStore::default();
        let job = begin(&store, begin_input("create", None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((job.version, job.options.amq), (1, true));
        let record = store.get("acme", "s1").await.map(|r| (r.state, r.execution));
        assert_eq!(
            record.ok(),
            Some((State::Initializing, Some("s1-op-1".into()))),
            "the record names the operator's execution for the sweep"
        );
        // The same execution's step run again (a lost answer) finds what its first try made:
        // its name is the create's idempotency key.
        let again = begin(&store, begin_input("create", None)).await;
        assert_eq!(again.map(|j| j.version).ok(), Some(1), "the same record, once");
        assert_eq!(store.sandboxes.lock().map(|s| s.len()).unwrap_or(0), 1);
        // Another execution creating the same sandbox is refused.
        let mut other = begin_input("create", None);
        other.token = "s1-op-2".into();
        let refused = begin(&store, other).await;
        assert!(
            matches!(refused, Err(StepError::Conflict(_))),
            "a second create is refused: {refused:?}"
        );
    }

    #[tokio::test]
    async fn an_api_begun_operation_must_still_be_at_its_version() {
        let store = sbx_fakes::FakeStore::default();
        assert!(begin(&store, begin_input("create", None)).await.is_ok());
        let begun = begin(&store, begin_input("create", Some(1))).await;
        assert_eq!(
            begun.map(|j| j.version).ok(),
            Some(1),
            "the API's begin is found, not repeated"
        );
        let mut named = begin_input("create", None);
        named.request.sandbox_id = "s2".into();
        named.token = "s2-create-v1".into();
        assert!(begin(&store, named).await.is_ok());
        let record = store.get("acme", "s2").await.map(|r| r.execution);
        assert_eq!(
            record.ok(),
            Some(None),
            "an execution under the version's name needs no naming"
        );
        let stale = begin(&store, begin_input("create", Some(7))).await;
        assert!(matches!(stale, Err(StepError::Conflict(_))), "{stale:?}");
        let missing = begin(&store, begin_input("stop", None)).await;
        assert!(
            matches!(missing, Err(StepError::Conflict(_))),
            "stop from initializing: {missing:?}"
        );
    }

    #[tokio::test]
    async fn finishing_records_success_or_the_failure_with_a_readable_cause() {
        let store = sbx_fakes::FakeStore::default();
        let job = begin(&store, begin_input("create", None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let failed = FinishInput {
            job: Some(job.clone()),
            begun: None,
            error: Some(CaughtError {
                error: "Sbx.InstallFailed".into(),
                cause: r#"{"errorType":"Sbx.InstallFailed","errorMessage":"exit 3"}"#.into(),
            }),
            endpoints: None,
            context: FailureContext::default(),
        };
        let out = finish(&store, failed).await;
        assert_eq!(
            out.ok(),
            Some(FinishOutput {
                state: State::Failed,
                version: 2
            })
        );
        let failure = store.get("acme", "s1").await.ok().and_then(|r| r.failure);
        assert_eq!(
            failure.map(|f| (f.operation, f.error, f.cause)),
            Some((Operation::Create, "Sbx.InstallFailed".into(), "exit 3".into()))
        );
        let late = finish(
            &store,
            FinishInput {
                job: Some(job),
                begun: None,
                error: None,
                endpoints: None,
                context: FailureContext::default(),
            },
        )
        .await;
        assert!(
            matches!(late, Err(StepError::Conflict(_))),
            "a finish at an old version: {late:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_begin_marks_the_record_the_api_moved_and_nothing_else() {
        let store = sbx_fakes::FakeStore::default();
        let job = begin(&store, begin_input("create", None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let unbegun = |version: Option<u64>, token: &str| FinishInput {
            job: None,
            begun: Some(Unbegun {
                operation: Operation::Create,
                token: token.into(),
                request: serde_json::from_value(serde_json::json!({
                    "tenant": "acme", "sandbox_id": "s1", "version": version,
                    "error": {"Error": "Sbx.Transient", "Cause": "GetItem timed out"},
                }))
                .unwrap_or_else(|e| panic!("{e}")),
            }),
            error: Some(CaughtError {
                error: "Sbx.Transient".into(),
                cause: "GetItem timed out".into(),
            }),
            endpoints: None,
            context: FailureContext::default(),
        };
        let stale = finish(&store, unbegun(Some(job.version + 1), "s1-create-v2")).await;
        assert_eq!(
            stale.ok(),
            Some(FinishOutput {
                state: State::Initializing,
                version: 1
            }),
            "another version is not this execution's"
        );
        let marked = finish(&store, unbegun(Some(job.version), "s1-create-v1")).await;
        assert_eq!(
            marked.ok(),
            Some(FinishOutput {
                state: State::Failed,
                version: 2
            })
        );
        let failure = store.get("acme", "s1").await.ok().and_then(|r| r.failure);
        assert_eq!(failure.map(|f| f.error), Some("Sbx.Transient".into()));
        let mut missing = unbegun(None, "x");
        if let Some(begun) = missing.begun.as_mut() {
            begun.request.sandbox_id = Some("nobody".into());
        }
        assert!(
            finish(&store, missing).await.is_ok(),
            "no record: nothing to mark"
        );
    }

    #[tokio::test]
    async fn the_cause_names_what_the_failure_branch_could_not_undo() {
        let store = sbx_fakes::FakeStore::default();
        let job = begin(&store, begin_input("create", None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let input = FinishInput {
            job: Some(job),
            begun: None,
            error: Some(CaughtError {
                error: "Sbx.InstallFailed".into(),
                cause: "exit 3".into(),
            }),
            endpoints: None,
            context: serde_json::from_value(serde_json::json!({
                "job": {},
                "compensationError": {
                    "Error": "Sbx.Transient",
                    "Cause": r#"{"errorType":"Sbx.Transient","errorMessage":"DeleteSubnet throttled"}"#,
                },
            }))
            .unwrap_or_else(|e| panic!("{e}")),
        };
        assert!(finish(&store, input).await.is_ok());
        let failure = store.get("acme", "s1").await.ok().and_then(|r| r.failure);
        assert_eq!(
            failure.map(|f| f.cause),
            Some("exit 3; not undone: Sbx.Transient: DeleteSubnet throttled".into())
        );
    }

    #[test]
    fn a_malformed_first_input_is_read_as_far_as_it_goes() {
        let read = |input: serde_json::Value| {
            serde_json::from_value::<Unbegun>(serde_json::json!({
                "operation": "delete", "token": "t", "request": input,
            }))
            .map(|u| u.request)
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            read(serde_json::json!({"tenant": 7, "sandbox_id": "s1", "version": "two"})),
            Ok(UnbegunRequest {
                tenant: None,
                sandbox_id: Some("s1".into()),
                version: None,
            })
        );
        assert_eq!(
            read(serde_json::json!("not an object")),
            Ok(UnbegunRequest::default())
        );
        assert_eq!(readable_cause("plain words"), "plain words");
        assert_eq!(
            readable_cause(r#"{"errorType":"Sbx.Failed","errorMessage":"no ocp"}"#),
            "no ocp"
        );
    }
}
