//! `deliver-webhook`: one step of a delivery's execution. It decides, from the delivery as
//! stored, whether to wait (for the delivery before it in its stream, or for its next attempt)
//! or to attempt now; an attempt signs the body with the endpoint's active secrets, posts it
//! to the addresses its URL resolves to (checked again, now), and records the answer. The
//! waiting is the state machine's, never this function's.

use crate::error::NotifyError;
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use sbx_store::{AttemptLog, Delivery, DeliveryStatus, StoreError, WebhookStore};
use sbx_webhooks::{Answer, Attempt, Next, Policy, Refusal, Target, schedule, signature};
use sbx_workflows::deliveries::DeliveryInput;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// How long to wait before looking again at a delivery whose predecessor is being attempted.
const PREDECESSOR_POLL: u64 = 2;

/// Where webhooks are sent.
pub trait Sender: Send + Sync {
    fn resolve(&self, url: &str, policy: Policy) -> impl Future<Output = Result<Target, Refusal>> + Send;
    fn post(&self, target: &Target, attempt: &Attempt<'_>) -> impl Future<Output = Answer> + Send;
}

/// The real network.
pub struct Network;

impl Sender for Network {
    async fn resolve(&self, url: &str, policy: Policy) -> Result<Target, Refusal> {
        sbx_webhooks::address::resolve(url, policy).await
    }

    async fn post(&self, target: &Target, attempt: &Attempt<'_>) -> Answer {
        sbx_webhooks::send::post(target, attempt).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverInput {
    #[serde(flatten)]
    pub delivery: DeliveryInput,
    /// The execution gave up (its loop's bound, or a failure): record the delivery failed.
    #[serde(default)]
    pub abandon: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverOutput {
    /// The delivery is delivered or failed: the execution ends.
    pub done: bool,
    /// Otherwise, how long to wait before the next step.
    pub wait_seconds: u64,
    pub status: DeliveryStatus,
    pub attempts: u32,
}

impl DeliverOutput {
    fn of(delivery: &Delivery, wait_seconds: Option<u64>) -> Self {
        Self {
            done: wait_seconds.is_none(),
            wait_seconds: wait_seconds.unwrap_or(0),
            status: delivery.status,
            attempts: delivery.attempts,
        }
    }
}

pub async fn deliver(
    store: &impl WebhookStore,
    sender: &impl Sender,
    settings: &Settings,
    input: DeliverInput,
    now: DateTime<Utc>,
) -> Result<DeliverOutput, NotifyError> {
    let DeliveryInput {
        tenant,
        endpoint,
        delivery,
    } = &input.delivery;
    let current = match store.delivery(tenant, endpoint, delivery).await {
        Ok(current) => current,
        // Gone with its retention: nothing is left to do.
        Err(StoreError::DeliveryNotFound { .. }) => {
            return Err(NotifyError::InvalidInput(format!(
                "delivery {delivery} not found"
            )));
        }
        Err(err) => return Err(err.into()),
    };
    if current.status.is_final() {
        return Ok(DeliverOutput::of(&current, None));
    }
    if input.abandon {
        return settle(store, &current, DeliveryStatus::Failed, None, None, now).await;
    }
    // In order: the delivery before this one in its stream goes first (or is given up).
    if let Some(before) = store.previous_delivery(&current).await?
        && !before.status.is_final()
    {
        let wait = before
            .next_at
            .map(|at| (at - now).num_seconds().max(0) as u64 + 1)
            .unwrap_or(PREDECESSOR_POLL);
        return Ok(DeliverOutput::of(&current, Some(wait.max(PREDECESSOR_POLL))));
    }
    // The attempt's time is the state machine's Wait: `next_at` is what the log shows.
    let target = match store.endpoint(tenant, endpoint).await {
        Ok(target) => target,
        Err(StoreError::WebhookNotFound { .. }) => {
            // The endpoint was removed: its deliveries give up.
            return settle(store, &current, DeliveryStatus::Failed, None, None, now).await;
        }
        Err(err) => return Err(err.into()),
    };
    let secrets = target.signing_secrets(now);
    let answer = match sender.resolve(&target.url, settings.policy).await {
        Err(refusal) => Answer {
            status: None,
            text: refusal.to_string(),
            elapsed: std::time::Duration::ZERO,
        },
        Ok(resolved) => {
            let timestamp = now.timestamp();
            let signed = signature::sign(secrets, &current.message_id, timestamp, &current.body)
                .map_err(|e| NotifyError::Failed(format!("endpoint {endpoint}: {e}")))?;
            sender
                .post(
                    &resolved,
                    &Attempt {
                        id: &current.message_id,
                        timestamp,
                        signature: &signed,
                        body: &current.body,
                    },
                )
                .await
        }
    };
    let log = AttemptLog {
        at: now,
        status: answer.status,
        answer: answer.text.clone(),
        elapsed_ms: answer.elapsed.as_millis() as u64,
    };
    let (status, next_at, wait) = match schedule::after(current.attempts + 1, answer.succeeded()) {
        Next::Delivered => (DeliveryStatus::Delivered, None, None),
        Next::Retry(seconds) => (
            DeliveryStatus::Pending,
            Some(now + chrono::Duration::seconds(seconds as i64)),
            Some(seconds),
        ),
        Next::GiveUp => (DeliveryStatus::Failed, None, None),
    };
    tracing::info!(
        endpoint, delivery, attempt = current.attempts + 1, status = ?answer.status, ?next_at,
        "webhook attempt"
    );
    match store
        .record_attempt(&current, status, Some(log), next_at, now)
        .await?
    {
        Some(recorded) => Ok(DeliverOutput::of(&recorded, wait)),
        // Another invocation recorded first: look again shortly.
        None => Ok(DeliverOutput::of(&current, Some(1))),
    }
}

async fn settle(
    store: &impl WebhookStore,
    current: &Delivery,
    status: DeliveryStatus,
    attempt: Option<AttemptLog>,
    next_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DeliverOutput, NotifyError> {
    match store
        .record_attempt(current, status, attempt, next_at, now)
        .await?
    {
        Some(recorded) => Ok(DeliverOutput::of(&recorded, None)),
        None => Ok(DeliverOutput::of(current, Some(1))),
    }
}
