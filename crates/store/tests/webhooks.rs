//! The webhook endpoints and deliveries against a real moto server over HTTP.

use aws_sdk_dynamodb::Client;
use chrono::{Duration as Days, Utc};
use sbx_moto::MotoServer;
use sbx_store::schema::{self, TableNames};
use sbx_store::{
    AttemptLog, Delivery, DeliveryStatus, DynamoStore, Endpoint, EndpointSecret, Order, Sealed, StoreConfig,
    StoreError, WebhookStore,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn store() -> Result<(DynamoStore, MotoServer), Box<dyn std::error::Error>> {
    let moto = MotoServer::start()?;
    let client = Client::new(&moto.sdk_config().await);
    let names = TableNames::with_prefix("sbx-");
    schema::create_tables(&client, &names).await?;
    Ok((DynamoStore::new(client, StoreConfig::new(names)), moto))
}

fn endpoint(tenant: &str, id: &str) -> Endpoint {
    Endpoint {
        tenant: tenant.into(),
        id: id.into(),
        url: "https://hooks.example.com/sbx".into(),
        events: vec![],
        description: String::new(),
        created_at: Utc::now(),
        version: 1,
        failing_since: None,
        disabled: None,
        secrets: vec![EndpointSecret {
            sealed: Sealed("c2VhbGVkIGJ5IEtNUw==".into()),
            created_at: Utc::now(),
            expires_at: None,
        }],
    }
}

fn delivery(endpoint: &str, stream: &str, version: u64, notice: u64) -> Delivery {
    Delivery {
        tenant: "acme".into(),
        endpoint: endpoint.into(),
        stream: stream.into(),
        order: Order { version, notice },
        message_id: format!("evt_{stream}_{version}_{notice}"),
        event_type: "sandbox.started".into(),
        body: "{}".into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        redeliveries: 0,
        last: None,
        next_at: None,
        created_at: sbx_lifecycle::rfc3339_millis::truncate(Utc::now()),
        updated_at: sbx_lifecycle::rfc3339_millis::truncate(Utc::now()),
    }
}

#[tokio::test]
async fn endpoints_are_per_tenant_limited_and_rotated_by_compare_and_set() -> TestResult {
    let (store, _moto) = store().await?;
    store.add_endpoint(&endpoint("acme", "wh_1"), 2).await?;
    store.add_endpoint(&endpoint("acme", "wh_2"), 2).await?;
    assert!(matches!(
        store.add_endpoint(&endpoint("acme", "wh_3"), 2).await,
        Err(StoreError::TooManyWebhooks { limit: 2 })
    ));
    store.add_endpoint(&endpoint("globex", "wh_9"), 2).await?;
    assert_eq!(store.endpoints("acme").await?.len(), 2);
    assert!(matches!(
        store.endpoint("globex", "wh_1").await,
        Err(StoreError::WebhookNotFound { .. })
    ));

    let current = store.endpoint("acme", "wh_1").await?;
    let mut secrets = current.secrets.clone();
    secrets.insert(
        0,
        EndpointSecret {
            sealed: Sealed("bmV3".into()),
            created_at: Utc::now(),
            expires_at: None,
        },
    );
    secrets[1].expires_at = Some(Utc::now() + Days::hours(24));
    let rotated = store.replace_secrets(&current, secrets.clone()).await?;
    assert_eq!(rotated.as_ref().map(|e| e.version), Some(2));
    assert_eq!(rotated.map(|e| e.signing_secrets(Utc::now()).len()), Some(2));
    // A second rotation from the same read loses.
    assert_eq!(store.replace_secrets(&current, secrets).await?, None);

    store.remove_endpoint("acme", "wh_1").await?;
    assert!(matches!(
        store.remove_endpoint("acme", "wh_1").await,
        Err(StoreError::WebhookNotFound { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn deliveries_are_recorded_once_in_stream_order_and_attempts_are_compared() -> TestResult {
    let (store, _moto) = store().await?;
    for (version, notice) in [(1, 0), (2, 0), (2, 3), (10, 0)] {
        assert!(
            store
                .add_delivery(&delivery("wh_1", "sb-a", version, notice))
                .await?
        );
    }
    assert!(store.add_delivery(&delivery("wh_1", "sb-b", 1, 0)).await?);
    assert!(store.add_delivery(&delivery("wh_2", "sb-a", 1, 0)).await?);
    // Published again: recorded once.
    assert!(!store.add_delivery(&delivery("wh_1", "sb-a", 2, 0)).await?);

    let tenth = store.delivery("acme", "wh_1", "sb-a.10.0").await?;
    let before = store.previous_delivery(&tenth).await?;
    assert_eq!(
        before.map(|d| d.order),
        Some(Order {
            version: 2,
            notice: 3
        })
    );
    let first = store.delivery("acme", "wh_1", "sb-a.1.0").await?;
    assert_eq!(store.previous_delivery(&first).await?, None);

    let log = AttemptLog {
        at: Utc::now(),
        status: Some(500),
        answer: "oops".into(),
        elapsed_ms: 3,
    };
    let next = store
        .record_attempt(
            &first,
            DeliveryStatus::Pending,
            Some(log.clone()),
            None,
            Utc::now(),
        )
        .await?;
    assert_eq!(next.as_ref().map(|d| d.attempts), Some(1));
    // A second invocation of the same attempt, from the same read, records nothing.
    assert_eq!(
        store
            .record_attempt(&first, DeliveryStatus::Delivered, Some(log), None, Utc::now())
            .await?,
        None
    );
    assert!(matches!(
        store.redeliver("acme", "wh_1", "sb-a.1.0", Utc::now()).await,
        Err(StoreError::DeliveryPending { .. })
    ));
    let Some(next) = next else {
        return Err("no attempt recorded".into());
    };
    store
        .record_attempt(&next, DeliveryStatus::Failed, None, None, Utc::now())
        .await?;
    let again = store.redeliver("acme", "wh_1", "sb-a.1.0", Utc::now()).await?;
    assert_eq!(
        (again.status, again.attempts, again.redeliveries),
        (DeliveryStatus::Pending, 0, 1)
    );
    // Pending, and its execution due to act just now: refused. An hour and more past that, its
    // execution is gone, and it is taken.
    assert!(matches!(
        store.redeliver("acme", "wh_1", "sb-a.1.0", Utc::now()).await,
        Err(StoreError::DeliveryPending { .. })
    ));
    let due = Utc::now();
    store
        .record_attempt(&again, DeliveryStatus::Pending, None, Some(due), due)
        .await?;
    let later = due + sbx_store::STALE_AFTER + chrono::Duration::seconds(1);
    let taken = store.redeliver("acme", "wh_1", "sb-a.1.0", later).await?;
    assert_eq!(
        (taken.status, taken.attempts, taken.redeliveries, taken.next_at),
        (DeliveryStatus::Pending, 0, 2, None)
    );

    let page = store.deliveries("acme", "wh_1", 3, None).await?;
    let ids: Vec<String> = page.items.iter().map(Delivery::id).collect();
    assert_eq!(ids, ["sb-a.1.0", "sb-a.2.0", "sb-a.2.3"]);
    let rest = store.deliveries("acme", "wh_1", 3, page.next.as_deref()).await?;
    let ids: Vec<String> = rest.items.iter().map(Delivery::id).collect();
    assert_eq!(ids, ["sb-a.10.0", "sb-b.1.0"]);
    assert!(matches!(
        store.delivery("acme", "wh_1", "nonsense").await,
        Err(StoreError::DeliveryNotFound { .. })
    ));
    Ok(())
}

/// An endpoint's failures start once and are forgotten by an answer; disabling it writes its
/// event in the same transaction, once; enabling it forgets both, with its own event.
#[tokio::test]
async fn an_endpoints_standing_is_kept_with_its_events() -> TestResult {
    let (store, moto) = store().await?;
    store.add_endpoint(&endpoint("acme", "wh_1"), 10).await?;
    let first = Utc::now();
    let failing = store.endpoint_failed("acme", "wh_1", first).await?;
    let later = store
        .endpoint_failed("acme", "wh_1", first + Days::hours(1))
        .await?;
    assert_eq!(
        later.failing_since, failing.failing_since,
        "the first failure is kept"
    );
    store.endpoint_answered("acme", "wh_1").await?;
    assert_eq!(store.endpoint("acme", "wh_1").await?.failing_since, None);
    store.endpoint_answered("acme", "wh_1").await?;

    let failing = store.endpoint_failed("acme", "wh_1", first).await?;
    assert!(
        store
            .disable_endpoint(&failing, "every delivery failed", first)
            .await?
    );
    assert!(
        !store
            .disable_endpoint(&failing, "again", first + Days::seconds(1))
            .await?,
        "disabled once"
    );
    let disabled = store.endpoint("acme", "wh_1").await?;
    assert_eq!(
        disabled.disabled.map(|d| d.reason).as_deref(),
        Some("every delivery failed")
    );
    let enabled = store
        .enable_endpoint("acme", "wh_1", "bob", first + Days::seconds(2))
        .await?;
    assert_eq!((enabled.disabled, enabled.failing_since), (None, None));

    let events = Client::new(&moto.sdk_config().await)
        .query()
        .table_name("sbx-events")
        .key_condition_expression("#p = :p")
        .expression_attribute_names("#p", "sandbox")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("@webhook#acme".into()),
        )
        .send()
        .await?
        .items
        .unwrap_or_default();
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|item| item.get("kind").and_then(|kind| kind.as_s().ok()))
        .map(String::as_str)
        .collect();
    assert_eq!(kinds, ["disabled", "enabled"]);
    assert!(matches!(
        store.enable_endpoint("acme", "wh_404", "bob", first).await,
        Err(StoreError::WebhookNotFound { .. })
    ));
    Ok(())
}

/// A secret sealed with KMS opens only for the endpoint it was sealed for, and its stored form
/// does not hold it.
#[tokio::test]
async fn a_sealed_secret_opens_only_for_its_own_endpoint() -> TestResult {
    use sbx_store::{KmsSeal, Seal};
    let moto = MotoServer::start()?;
    let kms = aws_sdk_kms::Client::new(&moto.sdk_config().await);
    let key = kms
        .create_key()
        .description("sbx webhook secrets")
        .send()
        .await?
        .key_metadata()
        .map(|k| k.arn().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let seal = KmsSeal::new(kms, key);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sealed = seal.seal("acme", "wh_1", secret).await?;
    assert!(
        !sealed.0.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "{}",
        sealed.0
    );
    assert_eq!(seal.open("acme", "wh_1", &sealed).await?, secret);
    for (tenant, webhook) in [("acme", "wh_2"), ("globex", "wh_1")] {
        let refused = seal.open(tenant, webhook, &sealed).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Sealing {
                    operation: "Decrypt",
                    transient: false,
                    ..
                })
            ),
            "{tenant}/{webhook}: {refused:?}"
        );
    }
    assert!(matches!(
        seal.open("acme", "wh_1", &Sealed("not base64!".into())).await,
        Err(StoreError::Malformed(_))
    ));
    Ok(())
}
