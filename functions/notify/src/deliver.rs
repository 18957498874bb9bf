//! `deliver-webhook`: one step of a delivery's execution. It decides, from the delivery as
//! stored, whether to wait (for the delivery before it in its stream, or for its next attempt)
//! or to attempt now; an attempt signs the body with the endpoint's active secrets, posts it
//! to the addresses its URL resolves to (checked again, now), and records the answer. The
//! waiting is the state machine's, never this function's.

use crate::error::NotifyError;
use crate::settings::Settings;
use chrono::{DateTime, Utc};
use sbx_store::{AttemptLog, Delivery, DeliveryStatus, Seal, StoreError, WebhookStore};
use sbx_webhooks::{Answer, Attempt, Next, Policy, Refusal, Target, retry, signature};
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
    seal: &impl Seal,
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
        if before.is_stale(now) {
            // Its execution stopped: it can no longer move, and would hold up its stream for
            // good. It is settled failed (it may be redelivered), and this one goes ahead.
            tracing::warn!(
                endpoint, delivery = %before.id(), next_at = ?before.next_at,
                "the delivery before this one has no execution behind it; it is given up"
            );
            store
                .record_attempt(&before, DeliveryStatus::Failed, None, None, now)
                .await?;
        } else {
            // Until it is settled: it acts next at its `next_at`. This one says when it looks
            // again, so that a delivery behind it can tell it is alive.
            let wait = before
                .next_at
                .map(|at| (at - now).num_seconds().max(0) as u64 + 1)
                .unwrap_or(PREDECESSOR_POLL)
                .max(PREDECESSOR_POLL);
            let next_at = now + chrono::Duration::seconds(wait as i64);
            return match store
                .record_attempt(&current, DeliveryStatus::Pending, None, Some(next_at), now)
                .await?
            {
                Some(recorded) => Ok(DeliverOutput::of(&recorded, Some(wait))),
                None => Ok(DeliverOutput::of(&current, Some(1))),
            };
        }
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
    if let Some(disabled) = &target.disabled {
        // It receives nothing until it is enabled; this delivery may be redelivered then.
        tracing::info!(endpoint, delivery, reason = %disabled.reason, "the endpoint is disabled");
        return settle(store, &current, DeliveryStatus::Failed, None, None, now).await;
    }
    let answer = match sender.resolve(&target.url, settings.policy).await {
        Err(refusal) => Answer {
            status: None,
            text: refusal.to_string(),
            elapsed: std::time::Duration::ZERO,
        },
        Ok(resolved) => {
            // Opened here only, for this attempt; never stored or logged.
            let mut secrets = Vec::new();
            for sealed in target.signing_secrets(now) {
                secrets.push(seal.open(tenant, endpoint, sealed).await?);
            }
            let timestamp = now.timestamp();
            let signed = signature::sign(
                secrets.iter().map(String::as_str),
                &current.message_id,
                timestamp,
                &current.body,
            )
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
    let (status, next_at, wait) = match retry::after(current.attempts + 1, answer.succeeded()) {
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
    let Some(recorded) = store
        .record_attempt(&current, status, Some(log), next_at, now)
        .await?
    else {
        // Another invocation recorded first: look again shortly.
        return Ok(DeliverOutput::of(&current, Some(1)));
    };
    // The endpoint's standing, once the attempt is recorded, and at most once: a failure here
    // must not fail the step, whose retry would attempt again.
    if let Err(err) = stand(store, &target, answer.succeeded(), settings.disable_after, now).await {
        tracing::warn!(endpoint, %err, "the endpoint's standing was not updated");
    }
    Ok(DeliverOutput::of(&recorded, wait))
}

/// Notes how `endpoint` answered: an answer forgets its failures; a failure starts or
/// continues them, and one that comes `disable_after` or more after the first disables it.
async fn stand(
    store: &impl WebhookStore,
    endpoint: &sbx_store::Endpoint,
    answered: bool,
    disable_after: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if answered {
        if endpoint.failing_since.is_some() {
            store.endpoint_answered(&endpoint.tenant, &endpoint.id).await?;
        }
        return Ok(());
    }
    let standing = store.endpoint_failed(&endpoint.tenant, &endpoint.id, now).await?;
    let Some(since) = standing
        .failing_since
        .filter(|since| now - *since >= disable_after)
    else {
        return Ok(());
    };
    let reason = format!(
        "every delivery failed for {} (since {})",
        span(disable_after),
        sbx_lifecycle::rfc3339_millis::format(&since)
    );
    if store.disable_endpoint(&standing, &reason, now).await? {
        tracing::warn!(endpoint = %endpoint.id, %reason, "the endpoint is disabled");
    }
    Ok(())
}

/// `5 days`, `90 s`.
fn span(duration: chrono::Duration) -> String {
    match duration.num_seconds() {
        seconds if seconds > 0 && seconds % 86_400 == 0 => match seconds / 86_400 {
            1 => "1 day".to_owned(),
            days => format!("{days} days"),
        },
        seconds => format!("{seconds} s"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakeReceiver;
    use crate::fakes::settings;
    use sbx_fakes::{FakeSeal, FakeStore};
    use sbx_store::{Endpoint, EndpointSecret, Order, STALE_AFTER};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(20_000)
    }

    /// acme's endpoint `wh_1` at `url`, and deliveries of stream sb-1 at the given versions.
    async fn stored(url: &str, versions: &[u64]) -> FakeStore {
        let store = FakeStore::default();
        let endpoint = Endpoint {
            tenant: "acme".into(),
            id: "wh_1".into(),
            url: url.into(),
            events: vec![],
            description: String::new(),
            created_at: now(),
            version: 1,
            failing_since: None,
            disabled: None,
            secrets: vec![EndpointSecret {
                sealed: FakeSeal
                    .seal("acme", "wh_1", SECRET)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
                created_at: now(),
                expires_at: None,
            }],
        };
        store
            .add_endpoint(&endpoint, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for &version in versions {
            let delivery = Delivery {
                tenant: "acme".into(),
                endpoint: "wh_1".into(),
                stream: "sb-1".into(),
                order: Order { version, notice: 0 },
                message_id: format!("evt_{version}"),
                event_type: "sandbox.started".into(),
                body: format!("{{\"seq\":{version}}}"),
                status: DeliveryStatus::Pending,
                attempts: 0,
                redeliveries: 0,
                last: None,
                next_at: None,
                created_at: now(),
                updated_at: now(),
            };
            store
                .add_delivery(&delivery)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        store
    }

    fn input(version: u64) -> DeliverInput {
        DeliverInput {
            delivery: DeliveryInput {
                tenant: "acme".into(),
                endpoint: "wh_1".into(),
                delivery: format!("sb-1.{version}.0"),
            },
            abandon: false,
        }
    }

    async fn step(store: &FakeStore, receiver: &FakeReceiver, input: DeliverInput) -> DeliverOutput {
        deliver(store, &FakeSeal, receiver, &settings(), input, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn stored_delivery(store: &FakeStore, version: u64) -> Delivery {
        store
            .stored_deliveries("acme", "wh_1")
            .into_iter()
            .find(|d| d.order.version == version)
            .unwrap_or_else(|| panic!("no delivery {version}"))
    }

    #[tokio::test]
    async fn an_answered_attempt_is_signed_with_the_secret_and_delivers() {
        let store = stored("https://hooks.example/in", &[1]).await;
        let receiver = FakeReceiver::default();

        let output = step(&store, &receiver, input(1)).await;

        assert!(output.done);
        assert_eq!((output.status, output.attempts), (DeliveryStatus::Delivered, 1));
        let received = receiver.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].url, "https://hooks.example/in");
        assert_eq!(
            (received[0].id.as_str(), received[0].body.as_str()),
            ("evt_1", "{\"seq\":1}")
        );
        let expected = signature::sign(vec![SECRET], "evt_1", now().timestamp(), "{\"seq\":1}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(received[0].signature, expected);
        let delivery = stored_delivery(&store, 1);
        assert_eq!(delivery.status, DeliveryStatus::Delivered);
        assert_eq!(delivery.last.as_ref().and_then(|l| l.status), Some(200));
    }

    #[tokio::test]
    async fn a_failed_attempt_is_tried_again_on_the_schedule_until_it_is_given_up() {
        let store = stored("https://hooks.example/in", &[1]).await;
        let receiver = FakeReceiver::answering([
            Some(500),
            None,
            Some(404),
            Some(503),
            Some(500),
            Some(500),
            Some(500),
            Some(500),
        ]);

        let first = step(&store, &receiver, input(1)).await;
        assert!(!first.done);
        assert_eq!(
            (first.status, first.attempts, first.wait_seconds),
            (DeliveryStatus::Pending, 1, 5)
        );
        assert_eq!(
            stored_delivery(&store, 1).next_at,
            Some(now() + chrono::Duration::seconds(5))
        );

        let second = step(&store, &receiver, input(1)).await;
        assert_eq!((second.attempts, second.wait_seconds), (2, 300));
        let last = stored_delivery(&store, 1)
            .last
            .unwrap_or_else(|| panic!("logged"));
        assert_eq!((last.status, last.answer.as_str()), (None, "connection refused"));

        let mut output = second;
        while !output.done {
            output = step(&store, &receiver, input(1)).await;
        }
        assert_eq!(
            (output.status, output.attempts),
            (DeliveryStatus::Failed, sbx_webhooks::retry::ATTEMPTS)
        );
        assert_eq!(receiver.received().len(), sbx_webhooks::retry::ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn a_delivery_waits_for_the_one_before_it_in_its_stream() {
        let store = stored("https://hooks.example/in", &[1, 2]).await;
        let receiver = FakeReceiver::answering([Some(500)]);

        let waiting = step(&store, &receiver, input(2)).await;
        assert!(!waiting.done);
        assert_eq!(waiting.wait_seconds, PREDECESSOR_POLL);
        assert!(receiver.received().is_empty(), "nothing is sent out of order");
        assert_eq!(
            stored_delivery(&store, 2).next_at,
            Some(now() + chrono::Duration::seconds(PREDECESSOR_POLL as i64)),
            "a waiting delivery says when it looks again"
        );

        step(&store, &receiver, input(1)).await;
        let behind_a_retry = step(&store, &receiver, input(2)).await;
        assert_eq!(
            behind_a_retry.wait_seconds, 6,
            "until the first one's next attempt"
        );
        assert_eq!(receiver.received().len(), 1);

        step(&store, &receiver, input(1)).await;
        let second = step(&store, &receiver, input(2)).await;
        assert_eq!(second.status, DeliveryStatus::Delivered);
        let order: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
        assert_eq!(order, ["evt_1", "evt_1", "evt_2"]);
    }

    /// A delivery before this one whose execution stopped (its `next_at` an hour and more
    /// past) can no longer move: it is settled failed, and this one is attempted.
    #[tokio::test]
    async fn a_delivery_before_it_with_no_execution_behind_it_no_longer_holds_it_up() {
        let store = stored("https://hooks.example/in", &[1, 2]).await;
        let receiver = FakeReceiver::answering([Some(200)]);
        let first = stored_delivery(&store, 1);
        let long_ago = now() - chrono::Duration::hours(30);
        store
            .record_attempt(
                &first,
                DeliveryStatus::Pending,
                None,
                Some(now() - STALE_AFTER - chrono::Duration::seconds(1)),
                long_ago,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let second = step(&store, &receiver, input(2)).await;

        assert_eq!(second.status, DeliveryStatus::Delivered);
        assert_eq!(stored_delivery(&store, 1).status, DeliveryStatus::Failed);
        let sent: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
        assert_eq!(sent, ["evt_2"]);
    }

    /// An endpoint whose every attempt failed for five days is disabled, with its event; its
    /// deliveries then give up without being sent, until it is enabled.
    #[tokio::test]
    async fn an_endpoint_that_fails_every_delivery_for_five_days_is_disabled_with_its_event() {
        let store = stored("https://hooks.example/in", &[1, 2, 3]).await;
        let receiver = FakeReceiver::answering([Some(500); 10]);
        let started = now();
        deliver(&store, &FakeSeal, &receiver, &settings(), input(1), started)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let failing = store
            .endpoint("acme", "wh_1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(failing.failing_since, Some(started));
        assert!(failing.disabled.is_none());

        let almost = started + Settings::DISABLE_AFTER - chrono::Duration::seconds(1);
        deliver(&store, &FakeSeal, &receiver, &settings(), input(1), almost)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            store
                .endpoint("acme", "wh_1")
                .await
                .is_ok_and(|e| e.disabled.is_none())
        );

        let five_days = started + Settings::DISABLE_AFTER;
        deliver(&store, &FakeSeal, &receiver, &settings(), input(1), five_days)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let disabled = store
            .endpoint("acme", "wh_1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let reason = disabled.disabled.map(|d| d.reason).unwrap_or_default();
        assert!(reason.contains("5 days"), "{reason}");
        let events: Vec<(String, sbx_store::WebhookEventKind)> = store
            .webhook_events
            .lock()
            .map(|e| e.iter().map(|e| (e.webhook_id.clone(), e.kind)).collect())
            .unwrap_or_default();
        assert_eq!(
            events,
            [("wh_1".to_owned(), sbx_store::WebhookEventKind::Disabled)]
        );

        // Its deliveries give up unsent, the pending one at its next step, then the next.
        let sent = receiver.received().len();
        for delivery in [1, 2] {
            let output = deliver(
                &store,
                &FakeSeal,
                &receiver,
                &settings(),
                input(delivery),
                five_days,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(output.status, DeliveryStatus::Failed);
        }
        assert_eq!(
            receiver.received().len(),
            sent,
            "nothing is sent to a disabled endpoint"
        );
    }

    /// An answer forgets the failures before it.
    #[tokio::test]
    async fn an_answer_forgets_the_endpoints_failures() {
        let store = stored("https://hooks.example/in", &[1]).await;
        let receiver = FakeReceiver::answering([Some(500), Some(204)]);
        step(&store, &receiver, input(1)).await;
        assert!(
            store
                .endpoint("acme", "wh_1")
                .await
                .is_ok_and(|e| e.failing_since.is_some())
        );
        step(&store, &receiver, input(1)).await;
        let answered = store
            .endpoint("acme", "wh_1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answered.failing_since, None);
    }

    /// Just short of that, it is alive: this one waits for it.
    #[tokio::test]
    async fn a_delivery_before_it_that_is_late_but_within_the_window_is_waited_for() {
        let store = stored("https://hooks.example/in", &[1, 2]).await;
        let receiver = FakeReceiver::answering([Some(200)]);
        let first = stored_delivery(&store, 1);
        let due = now() - STALE_AFTER + chrono::Duration::seconds(1);
        store
            .record_attempt(&first, DeliveryStatus::Pending, None, Some(due), due)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let second = step(&store, &receiver, input(2)).await;

        assert!(!second.done);
        assert_eq!(stored_delivery(&store, 1).status, DeliveryStatus::Pending);
        assert!(receiver.received().is_empty());
    }

    #[tokio::test]
    async fn an_address_refused_at_delivery_is_logged_as_a_failed_attempt() {
        let store = stored("https://hooks.corp.internal/in", &[1]).await;
        let receiver = FakeReceiver::default();

        let output = step(&store, &receiver, input(1)).await;

        assert_eq!(
            (output.status, output.attempts, output.wait_seconds),
            (DeliveryStatus::Pending, 1, 5)
        );
        assert!(
            receiver.received().is_empty(),
            "nothing reaches a private address"
        );
        let last = stored_delivery(&store, 1)
            .last
            .unwrap_or_else(|| panic!("logged"));
        assert_eq!(last.status, None);
        assert!(
            last.answer.contains("10.0.0.7") && last.answer.contains("private"),
            "{}",
            last.answer
        );
    }

    #[tokio::test]
    async fn a_removed_endpoint_or_an_abandoned_execution_fails_the_delivery_without_sending() {
        let store = stored("https://hooks.example/in", &[1, 2]).await;
        let receiver = FakeReceiver::default();

        let abandoned = step(
            &store,
            &receiver,
            DeliverInput {
                abandon: true,
                ..input(1)
            },
        )
        .await;
        assert!(abandoned.done);
        assert_eq!(
            (abandoned.status, abandoned.attempts),
            (DeliveryStatus::Failed, 0)
        );

        store
            .remove_endpoint("acme", "wh_1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let removed = step(&store, &receiver, input(2)).await;
        assert!(removed.done);
        assert_eq!(removed.status, DeliveryStatus::Failed);
        assert!(receiver.received().is_empty());

        let again = step(&store, &receiver, input(2)).await;
        assert_eq!(
            (again.done, again.status),
            (true, DeliveryStatus::Failed),
            "a settled delivery is left alone"
        );
    }

    #[tokio::test]
    async fn a_delivery_gone_with_its_retention_is_invalid_input() {
        let store = stored("https://hooks.example/in", &[]).await;
        let failed = deliver(
            &store,
            &FakeSeal,
            &FakeReceiver::default(),
            &settings(),
            input(9),
            now(),
        )
        .await;
        assert!(matches!(failed, Err(NotifyError::InvalidInput(_))), "{failed:?}");
    }
}
