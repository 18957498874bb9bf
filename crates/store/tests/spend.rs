//! Meters, spend and budgets against a real moto server: a meter moves once from where it was
//! read and adds to its tenant's month, day and account; a deleted sandbox's meter closes; a
//! threshold is recorded once; a budget change is audited.

use aws_sdk_dynamodb::Client;
use chrono::{Duration, Utc};
use sbx_lifecycle::cost::{Accrued, Usd};
use sbx_lifecycle::{NewSandbox, Operation, Outcome, SandboxOptions, State};
use sbx_moto::MotoServer;
use sbx_store::schema::{self, TableNames};
use sbx_store::{
    Budget, BudgetEvent, DriftStore, DynamoStore, Metering, SandboxStore, SpendStore, StoreConfig,
};
use std::collections::BTreeMap;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn store() -> Result<(DynamoStore, MotoServer), Box<dyn std::error::Error>> {
    let moto = MotoServer::start()?;
    let client = Client::new(&moto.sdk_config().await);
    let names = TableNames::with_prefix("sbx-");
    schema::create_tables(&client, &names).await?;
    Ok((DynamoStore::new(client, StoreConfig::new(names)), moto))
}

fn accrued(days: &[(&str, u64)], rate: u64) -> Accrued {
    Accrued {
        by_day: days
            .iter()
            .map(|(d, m)| ((*d).to_owned(), *m))
            .collect::<BTreeMap<_, _>>(),
        rate,
    }
}

#[tokio::test]
async fn a_meter_moves_once_and_adds_to_the_month_the_day_and_the_account() -> TestResult {
    let (store, _moto) = store().await?;
    let new = NewSandbox {
        tenant: "acme".into(),
        id: "sb-1".into(),
        name: "metered".into(),
        options: SandboxOptions::default(),
        expires_at: Utc::now() + Duration::hours(8),
    };
    store.create(new, None).await?;
    store.assign_account("acme", "sb-1", "123456789012").await?;
    let meters = store.open_meters().await?;
    assert_eq!(meters.items.len(), 1);
    let meter = &meters.items[0];
    assert_eq!(
        (meter.version, meter.state, meter.total, meter.metered),
        (1, State::Initializing, 0, false)
    );

    let to = meter.at + Duration::hours(2);
    let first = accrued(&[("2026-12-04", 300_000), ("2026-12-05", 500_000)], 418_538);
    let metering = Metering {
        meter,
        to,
        version: 1,
        state: State::Initializing,
        accrued: &first,
    };
    assert!(store.write_meter(&metering).await?);
    // The same meter as read, again (a sweep that lost its answer, or a second sweep).
    assert!(!store.write_meter(&metering).await?, "moved once");
    let record = store.get("acme", "sb-1").await?;
    let cost = record.cost.ok_or("a cost")?;
    assert_eq!(
        (cost.estimated_usd, cost.rate_usd_per_hour),
        (Usd(800_000), Usd(418_538))
    );
    assert_eq!(store.month_spend("acme", "2026-12").await?.spent, Usd(800_000));
    assert_eq!(
        store.account_spend("acme", "123456789012", "2026-12").await?,
        Usd(800_000)
    );
    assert_eq!(
        store.days_spend("acme", "2026-12-01", "2026-12-04").await?,
        Usd(300_000)
    );
    assert_eq!(
        store.days_spend("acme", "2026-12-01", "2026-12-31").await?,
        Usd(800_000)
    );

    // Deleted: metered to the deletion, then off the index.
    store
        .finish("acme", "sb-1", Operation::Create, 1, Outcome::Succeeded)
        .await?;
    store.begin("acme", "sb-1", Operation::Delete).await?;
    store
        .finish("acme", "sb-1", Operation::Delete, 3, Outcome::Succeeded)
        .await?;
    let meters = store.open_meters().await?;
    let meter = &meters.items[0];
    let last = accrued(&[("2026-12-05", 1_000)], 0);
    assert!(
        store
            .write_meter(&Metering {
                meter,
                to: to + Duration::minutes(1),
                version: 4,
                state: State::Deleted,
                accrued: &last,
            })
            .await?
    );
    assert!(store.open_meters().await?.items.is_empty(), "closed");
    assert_eq!(store.month_spend("acme", "2026-12").await?.spent, Usd(801_000));
    Ok(())
}

#[tokio::test]
async fn a_threshold_is_recorded_once_and_a_budget_change_is_audited() -> TestResult {
    let (store, _moto) = store().await?;
    let budget = Budget {
        monthly_usd: Usd(10_000_000),
        sandbox_cap_usd: None,
        thresholds: Budget::default_thresholds(),
        stop_at_limit: true,
    };
    store
        .put_budget(
            "acme",
            &budget,
            &BudgetEvent::updated("acme", &budget, "olivia", Utc::now()),
        )
        .await?;
    assert_eq!(store.budget("acme").await?, Some(budget.clone()));
    let spend = store.month_spend("acme", "2026-12").await?;
    let event = BudgetEvent::threshold(&spend, &budget, 50, Utc::now());
    assert!(
        store
            .warn_thresholds(&spend, &[50], std::slice::from_ref(&event))
            .await?
    );
    // A second sweep that read the month before the first recorded: refused.
    assert!(!store.warn_thresholds(&spend, &[50], &[event]).await?);
    let now = store.month_spend("acme", "2026-12").await?;
    assert_eq!(now.warned, [50]);
    let later = BudgetEvent::threshold(&now, &budget, 80, Utc::now());
    assert!(store.warn_thresholds(&now, &[50, 80], &[later]).await?);
    let trail = store.budget_events("acme").await?;
    let kinds: Vec<_> = trail.iter().map(|e| (e.kind, e.percent)).collect();
    assert_eq!(
        kinds,
        [
            (sbx_store::BudgetEventKind::Updated, None),
            (sbx_store::BudgetEventKind::Threshold, Some(50)),
            (sbx_store::BudgetEventKind::Threshold, Some(80)),
        ]
    );
    assert!(store.claim_drift_check("2026-12-05").await?);
    assert!(!store.claim_drift_check("2026-12-05").await?, "once a day");
    // A comparison that failed gives its day back, once.
    store.release_drift_check("2026-12-05").await?;
    store.release_drift_check("2026-12-05").await?;
    assert!(
        store.claim_drift_check("2026-12-05").await?,
        "claimed again after a failure"
    );
    assert!(store.claim_drift_check("2026-12-06").await?);
    Ok(())
}

/// Every open meter is read, however many: past the query's page of 1,000 and past the 10,000
/// one run once read at most (sandboxes beyond it were never metered).
#[tokio::test]
async fn every_open_meter_is_read_page_after_page() -> TestResult {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    let (store, moto) = store().await?;
    let client = Client::new(&moto.sdk_config().await);
    let table = TableNames::with_prefix("sbx-").sandboxes()?.to_owned();
    let now = Utc::now();
    const METERS: usize = 2_345;
    let items: Vec<WriteRequest> = (0..METERS)
        .map(|i| {
            let mut record = sbx_lifecycle::Sandbox::create(
                NewSandbox {
                    tenant: format!("tenant-{}", i % 7),
                    id: format!("sb-{i:05}"),
                    name: format!("meter {i}"),
                    options: SandboxOptions::default(),
                    expires_at: now + Duration::hours(8),
                },
                now,
            )
            .record;
            record.state = State::Stopped;
            let mut item: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(&record)?;
            let text = |v: &str| AttributeValue::S(v.to_owned());
            item.insert("meter".into(), text("open"));
            item.insert(
                "meter_at".into(),
                text(&sbx_lifecycle::rfc3339_millis::format(
                    &sbx_lifecycle::rfc3339_millis::truncate(now),
                )),
            );
            item.insert("meter_version".into(), AttributeValue::N("1".into()));
            item.insert("meter_state".into(), text("stopped"));
            item.insert("meter_micros".into(), AttributeValue::N("0".into()));
            let put = PutRequest::builder().set_item(Some(item)).build()?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    for chunk in items.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let written = client
                .batch_write_item()
                .request_items(&table, pending)
                .send()
                .await?;
            pending = written
                .unprocessed_items()
                .and_then(|left| left.get(&table))
                .cloned()
                .unwrap_or_default();
        }
    }
    let meters = store.open_meters().await?;
    assert_eq!(meters.items.len(), METERS);
    assert_eq!(meters.read, METERS as u64);
    let mut ids: Vec<&str> = meters.items.iter().map(|m| m.sandbox.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), METERS, "each once");
    Ok(())
}
