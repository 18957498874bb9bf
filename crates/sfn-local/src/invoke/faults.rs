//! Lambda's own failures, made to happen on purpose: of the invocations a Task makes, a seeded
//! share is faulted in one of the ways Lambda fails a synchronous invoke.
//!
//! - **Timeout.** The function runs on (its effect may land), but the Task stops waiting: the
//!   engine reports `States.Timeout` (`TaskTimedOut`) when the Task has a timeout, and
//!   `Lambda.Unknown` (the function's own timeout) when it has none.
//! - **Crash.** The invocation ends without the handler's answer. `Lambda.ServiceException`
//!   before the handler runs; `Lambda.Unknown` or `Lambda.SdkClientException` after it ran (so
//!   its effect landed and its answer was lost).
//! - **Duplicate.** The handler runs twice at once, as an invoke retried by the service runs; the
//!   Task gets the first answer and the other run finishes on its own.

use super::{Function, InvokeError};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The share of invocations faulted, and the seed of the decisions (taken in the order the
/// invocations arrive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaFaultSpec {
    pub share: f64,
    pub seed: u64,
}

/// What was done to the invocations so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LambdaFaultStats {
    pub invocations: u64,
    pub timeouts: u64,
    pub crashes: u64,
    pub duplicates: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Timeout,
    /// Refused by the service before the handler ran.
    ServiceException,
    /// The handler ran; its answer was lost with this error type.
    LostAnswer(&'static str),
    Duplicate,
}

/// The seeded decisions and their counts, shared by every function of one engine.
pub struct LambdaFaults {
    spec: LambdaFaultSpec,
    rng: Mutex<fastrand::Rng>,
    invocations: AtomicU64,
    timeouts: AtomicU64,
    crashes: AtomicU64,
    duplicates: AtomicU64,
}

impl LambdaFaults {
    pub fn new(spec: LambdaFaultSpec) -> Arc<Self> {
        Arc::new(Self {
            rng: Mutex::new(fastrand::Rng::with_seed(spec.seed)),
            spec,
            invocations: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            crashes: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
        })
    }

    pub fn stats(&self) -> LambdaFaultStats {
        LambdaFaultStats {
            invocations: self.invocations.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            crashes: self.crashes.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
        }
    }

    fn decide(&self) -> Option<Fault> {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if rng.f64() >= self.spec.share {
            return None;
        }
        let fault = match rng.u8(0..6) {
            0 | 1 => Fault::Timeout,
            2 => Fault::ServiceException,
            3 => Fault::LostAnswer("Lambda.Unknown"),
            4 => Fault::LostAnswer("Lambda.SdkClientException"),
            _ => Fault::Duplicate,
        };
        let counter = match fault {
            Fault::Timeout => &self.timeouts,
            Fault::ServiceException | Fault::LostAnswer(_) => &self.crashes,
            Fault::Duplicate => &self.duplicates,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Some(fault)
    }

    /// Invokes `function` on `payload`, unless this invocation is faulted.
    pub(super) fn invoke(
        &self,
        function: Arc<dyn Function>,
        payload: Value,
    ) -> BoxFuture<'static, Result<Value, InvokeError>> {
        let Some(fault) = self.decide() else {
            return function.invoke(payload);
        };
        tracing::debug!(?fault, "a Lambda fault injected");
        match fault {
            Fault::Timeout => {
                // The function goes on running; nobody waits for it.
                tokio::spawn(function.invoke(payload));
                Box::pin(async { Err(InvokeError::TimedOut) })
            }
            Fault::ServiceException => Box::pin(async {
                Err(crash(
                    "Lambda.ServiceException",
                    "Lambda was unable to run the function (injected)",
                ))
            }),
            Fault::LostAnswer(error_type) => {
                let run = function.invoke(payload);
                Box::pin(async move {
                    let _ = run.await;
                    Err(crash(
                        error_type,
                        "the function's answer was lost after it ran (injected)",
                    ))
                })
            }
            Fault::Duplicate => {
                let first = function.invoke(payload.clone());
                let second = function.invoke(payload);
                Box::pin(async move {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let tx = Arc::new(Mutex::new(Some(tx)));
                    for run in [first, second] {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let result = run.await;
                            let sender = tx.lock().unwrap_or_else(|p| p.into_inner()).take();
                            if let Some(sender) = sender {
                                let _ = sender.send(result);
                            }
                        });
                    }
                    rx.await.unwrap_or_else(|_| {
                        Err(crash("Lambda.Unknown", "both runs of a duplicate were lost"))
                    })
                })
            }
        }
    }
}

fn crash(error_type: &str, message: &str) -> InvokeError {
    InvokeError::Function {
        error_type: error_type.to_owned(),
        payload: json!({"errorType": error_type, "errorMessage": message}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::Functions;
    use std::sync::atomic::AtomicUsize;

    fn counting(functions: &Functions) -> Arc<AtomicUsize> {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        functions.handler("f", move |payload| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(payload)
            }
        });
        runs
    }

    #[tokio::test]
    async fn every_kind_of_fault_happens_and_each_one_as_lambda_does_it() {
        let functions = Functions::new();
        let runs = counting(&functions);
        let faults = LambdaFaults::new(LambdaFaultSpec { share: 1.0, seed: 3 });
        functions.set_faults(Some(faults.clone()));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..60 {
            let before = runs.load(Ordering::SeqCst);
            let result = functions.invoke("f", json!({"n": 1})).await;
            // Let spawned runs (a timeout's, a duplicate's second) finish.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            let ran = runs.load(Ordering::SeqCst) - before;
            match result {
                Err(InvokeError::TimedOut) => {
                    assert_eq!(ran, 1, "a timed-out function still runs");
                    seen.insert("timeout");
                }
                Err(InvokeError::Function { error_type, .. }) if error_type == "Lambda.ServiceException" => {
                    assert_eq!(ran, 0, "refused before the handler ran");
                    seen.insert("service");
                }
                Err(InvokeError::Function { error_type, .. }) => {
                    assert!(["Lambda.Unknown", "Lambda.SdkClientException"].contains(&error_type.as_str()));
                    assert_eq!(ran, 1, "the answer is lost after the handler ran");
                    seen.insert("lost");
                }
                Ok(value) => {
                    assert_eq!(value, json!({"n": 1}));
                    assert_eq!(ran, 2, "a duplicate runs the handler twice");
                    seen.insert("duplicate");
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        let stats = faults.stats();
        assert_eq!(stats.invocations, 60);
        assert_eq!(stats.timeouts + stats.crashes + stats.duplicates, 60);
    }

    #[tokio::test]
    async fn without_a_share_nothing_is_faulted() {
        let functions = Functions::new();
        let runs = counting(&functions);
        functions.set_faults(Some(LambdaFaults::new(LambdaFaultSpec { share: 0.0, seed: 1 })));
        for _ in 0..20 {
            assert!(functions.invoke("f", json!(1)).await.is_ok());
        }
        assert_eq!(runs.load(Ordering::SeqCst), 20);
    }
}
