//! How a Task reaches a Lambda function: the resource it names, and the invokers behind one
//! trait: handlers in this process, and executables speaking the Lambda Runtime API.

mod faults;
mod runtime_api;

pub use faults::{LambdaFaultSpec, LambdaFaultStats, LambdaFaults};
pub use runtime_api::{ColdStart, RuntimeFunction};

use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

/// What a Task state's `Resource` invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME`: the payload is the state's input.
    Function(String),
    /// `arn:aws:states:::lambda:invoke`: `FunctionName` and `Payload` come from Parameters,
    /// and the result is wrapped as the Lambda Invoke API returns it.
    LambdaInvoke,
}

impl Target {
    pub fn from_resource(resource: &str) -> Option<Target> {
        if resource == "arn:aws:states:::lambda:invoke" {
            return Some(Target::LambdaInvoke);
        }
        let parts: Vec<&str> = resource.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "lambda", _, _, "function", name, ..] if !name.is_empty() && parts.len() <= 8 => {
                Some(Target::Function((*name).to_owned()))
            }
            _ => None,
        }
    }
}

/// The function name in a `FunctionName`: a name, `NAME:QUALIFIER`, a full or partial ARN.
pub fn function_name(name: &str) -> &str {
    let parts: Vec<&str> = name.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        [_, "function", name, ..] => name,
        [name, ..] => name,
        [] => name,
    }
}

/// Why an invocation did not return a result.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeError {
    /// The function raised an error; `payload` is its error document (`errorType`, `errorMessage`, ...).
    Function { error_type: String, payload: Value },
    /// No function of that name is registered.
    NotFound(String),
    /// The caller stopped waiting (an injected timeout); the function may still be running.
    TimedOut,
    /// The state machine's role may not invoke the function (Lambda's `AccessDeniedException`).
    Denied(String),
}

/// Whether a state machine's role may invoke a function, as IAM decides it on AWS
/// (`lambda:InvokeFunction`): the message of the refusal otherwise.
pub trait Authorize: Send + Sync {
    fn invoke(&self, role_arn: &str, function_arn: &str) -> Result<(), String>;
}

/// An error a handler returns, as the Lambda runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub error_type: String,
    pub message: String,
}

impl FunctionError {
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

impl From<FunctionError> for InvokeError {
    fn from(err: FunctionError) -> Self {
        InvokeError::Function {
            payload: json!({"errorType": err.error_type, "errorMessage": err.message}),
            error_type: err.error_type,
        }
    }
}

/// One deployable function.
pub trait Function: Send + Sync {
    fn invoke(&self, payload: Value) -> BoxFuture<'static, Result<Value, InvokeError>>;
}

struct Handler<F>(F);

impl<F, Fut> Function for Handler<F>
where
    F: Fn(Value) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Value, FunctionError>> + Send + 'static,
{
    fn invoke(&self, payload: Value) -> BoxFuture<'static, Result<Value, InvokeError>> {
        let result = (self.0)(payload);
        Box::pin(async move { result.await.map_err(InvokeError::from) })
    }
}

/// The functions the engine can invoke, by name.
#[derive(Clone, Default)]
pub struct Functions {
    by_name: Arc<RwLock<HashMap<String, Arc<dyn Function>>>>,
    /// Lambda's own failures, injected into a share of the invocations.
    faults: Arc<RwLock<Option<Arc<LambdaFaults>>>>,
    /// IAM, when the engine's roles are enforced.
    authorizer: Arc<RwLock<Option<Arc<dyn Authorize>>>>,
}

impl Functions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&self, name: impl Into<String>, function: Arc<dyn Function>) {
        let mut map = self
            .by_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.insert(name.into(), function);
    }

    /// Registers an in-process handler.
    pub fn handler<F, Fut>(&self, name: impl Into<String>, handler: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, FunctionError>> + Send + 'static,
    {
        self.register(name, Arc::new(Handler(handler)));
    }

    /// Faults a share of every later invocation (`None`: none).
    pub fn set_faults(&self, faults: Option<Arc<LambdaFaults>>) {
        *self
            .faults
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = faults;
    }

    /// Checks every later invocation with `authorizer` (`None`: none is checked).
    pub fn set_authorizer(&self, authorizer: Option<Arc<dyn Authorize>>) {
        *self
            .authorizer
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = authorizer;
    }

    /// Invokes `name` (`function_arn`) as a state machine whose role is `role_arn`: refused when
    /// the role may not invoke it.
    pub fn invoke_as(
        &self,
        role_arn: &str,
        function_arn: &str,
        name: &str,
        payload: Value,
    ) -> BoxFuture<'static, Result<Value, InvokeError>> {
        let authorizer = self
            .authorizer
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(Err(message)) = authorizer.map(|a| a.invoke(role_arn, function_arn)) {
            return Box::pin(async move { Err(InvokeError::Denied(message)) });
        }
        self.invoke(name, payload)
    }

    pub fn invoke(&self, name: &str, payload: Value) -> BoxFuture<'static, Result<Value, InvokeError>> {
        let faults = self
            .faults
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let function = {
            let map = self
                .by_name
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.get(name).cloned()
        };
        match (function, faults) {
            (Some(function), Some(faults)) => faults.invoke(function, payload),
            (Some(function), None) => function.invoke(payload),
            (None, _) => {
                let name = name.to_owned();
                Box::pin(async move { Err(InvokeError::NotFound(name)) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OnlyF;

    impl Authorize for OnlyF {
        fn invoke(&self, role_arn: &str, function_arn: &str) -> Result<(), String> {
            if function_arn.ends_with(":function:f") {
                Ok(())
            } else {
                Err(format!("{role_arn} may not invoke {function_arn}"))
            }
        }
    }

    #[tokio::test]
    async fn an_invocation_its_role_may_not_make_never_reaches_the_function() {
        let functions = Functions::new();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for name in ["f", "g"] {
            let calls = calls.clone();
            functions.handler(name, move |payload| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move { Ok(payload) }
            });
        }
        functions.set_authorizer(Some(Arc::new(OnlyF)));
        let arn = |name: &str| format!("arn:aws:lambda:us-east-1:1:function:{name}");
        let allowed = functions.invoke_as("role", &arn("f"), "f", Value::Null).await;
        assert!(allowed.is_ok());
        let refused = functions.invoke_as("role", &arn("g"), "g", Value::Null).await;
        assert!(matches!(refused, Err(InvokeError::Denied(m)) if m.contains("may not invoke")));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn resources_and_function_names_are_recognised() {
        assert_eq!(
            Target::from_resource("arn:aws:lambda:us-east-1:123456789012:function:launch-instances"),
            Some(Target::Function("launch-instances".into()))
        );
        assert_eq!(
            Target::from_resource("arn:aws:lambda:us-east-1:123456789012:function:f:live"),
            Some(Target::Function("f".into()))
        );
        assert_eq!(
            Target::from_resource("arn:aws:states:::lambda:invoke"),
            Some(Target::LambdaInvoke)
        );
        assert_eq!(Target::from_resource("arn:aws:states:::sqs:sendMessage"), None);
        assert_eq!(Target::from_resource("${LaunchInstancesArn}"), None);
        for name in [
            "f",
            "f:1",
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            "123456789012:function:f:live",
        ] {
            assert_eq!(function_name(name), "f", "{name}");
        }
    }
}
