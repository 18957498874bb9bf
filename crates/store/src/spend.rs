//! Spend: each sandbox's meter (attributes of its record, on the sparse `by-meter` index while
//! it is open), and in the tenants table each tenant's budget (`budget`), what it spent per
//! month (`spend#2026-12`, with the thresholds told of), per day (`spend#2026-12-05`) and per
//! month and account (`spend#2026-12#account#<id>`). A budget's changes and thresholds are its trail in the
//! events table (`@budget#<tenant>`).

use crate::client::DynamoStore;
use crate::item::{Item, build, n, refused, s, written};
use crate::schema::BY_METER;
use crate::transaction::{Part, Transaction, TxError};
use crate::{
    Budget, BudgetEvent, Drift, DriftStore, Meter, Metering, Meters, MonthSpend, SpendStore, StoreError,
};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use sbx_lifecycle::cost::{Cost, Micros, Usd};
use sbx_lifecycle::{Sandbox, State, rfc3339_millis};
use serde::Deserialize;

/// The value of `meter` while a sandbox is metered: the partition of the index.
const OPEN: &str = "open";
const BUDGET_KEY: &str = "budget";

fn month_key(month: &str) -> String {
    format!("spend#{month}")
}

/// `spend#2026-12-05`: sorts after its month's `spend#2026-12` and its accounts' items.
fn day_key(day: &str) -> String {
    format!("spend#{day}")
}

/// The most days one meter write adds to (with its months, within a transaction's 100 items).
const MAX_DAYS_PER_WRITE: usize = 60;

fn account_month_key(month: &str, account_id: &str) -> String {
    format!("spend#{month}#account#{account_id}")
}

fn budget_partition(tenant: &str) -> String {
    format!("@budget#{tenant}")
}

fn time(at: DateTime<Utc>) -> AttributeValue {
    s(rfc3339_millis::format(&rfc3339_millis::truncate(at)))
}

/// The attributes that open a new record's meter at its creation.
pub(crate) fn meter_attributes(item: &mut Item, record: &Sandbox) {
    item.insert("meter".into(), s(OPEN));
    item.insert("meter_at".into(), time(record.created_at));
    item.insert("meter_version".into(), n(record.version));
    item.insert("meter_state".into(), s(record.state.as_str()));
    item.insert("meter_micros".into(), n(0));
}

#[derive(Deserialize)]
struct MeterFields {
    #[serde(with = "rfc3339_millis")]
    meter_at: DateTime<Utc>,
    meter_version: u64,
    meter_state: State,
    meter_micros: Micros,
    #[serde(default)]
    metered: bool,
}

#[derive(Deserialize)]
struct SpendItem {
    #[serde(default)]
    micros: Micros,
    #[serde(default)]
    warned: Vec<u32>,
}

impl DynamoStore {
    fn add_spend(&self, tenant: &str, key: String, micros: Micros) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(key))
            .update_expression("ADD #micros :micros")
            .expression_attribute_names("#micros", "micros")
            .expression_attribute_values(":micros", n(micros));
        Ok(TransactWriteItem::builder()
            .update(build(update.build())?)
            .build())
    }

    async fn spend_item(&self, tenant: &str, key: &str) -> Result<SpendItem, StoreError> {
        Ok(match self.get_tenant_item(tenant, key).await? {
            Some(item) => serde_dynamo::from_item(item)?,
            None => SpendItem {
                micros: 0,
                warned: Vec::new(),
            },
        })
    }
}

impl SpendStore for DynamoStore {
    async fn open_meters(&self) -> Result<Meters, StoreError> {
        let mut meters = Meters::default();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.config.tables.sandboxes()?)
                .index_name(BY_METER)
                .key_condition_expression("#meter = :open")
                .expression_attribute_names("#meter", "meter")
                .expression_attribute_values(":open", s(OPEN))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::aws("Query", e))?;
            meters.read += output.scanned_count.max(0) as u64;
            for item in output.items.unwrap_or_default() {
                let fields: MeterFields = serde_dynamo::from_item(item.clone())?;
                meters.items.push(Meter {
                    sandbox: serde_dynamo::from_item(item)?,
                    at: fields.meter_at,
                    version: fields.meter_version,
                    state: fields.meter_state,
                    total: fields.meter_micros,
                    metered: fields.metered,
                });
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(meters)
    }

    async fn write_meter(&self, metering: &Metering<'_>) -> Result<bool, StoreError> {
        let Metering {
            meter,
            to,
            version,
            state,
            accrued,
        } = *metering;
        let sandbox = &meter.sandbox;
        let total = meter.total + accrued.total();
        let cost = Cost::new(
            total,
            sandbox.created_at,
            rfc3339_millis::truncate(to),
            accrued.rate,
        );
        let mut expression = String::from(
            "SET #at = :to, #version = :version, #state = :state, #micros = :micros, #metered = :true, #cost = :cost",
        );
        if state == State::Deleted {
            expression.push_str(" REMOVE #meter");
        }
        let update = Update::builder()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(&sandbox.tenant))
            .key("id", s(&sandbox.id))
            .update_expression(expression)
            .condition_expression("#at = :read AND #meter = :open")
            .expression_attribute_names("#at", "meter_at")
            .expression_attribute_names("#version", "meter_version")
            .expression_attribute_names("#state", "meter_state")
            .expression_attribute_names("#micros", "meter_micros")
            .expression_attribute_names("#metered", "metered")
            .expression_attribute_names("#cost", "cost")
            .expression_attribute_names("#meter", "meter")
            .expression_attribute_values(":to", time(to))
            .expression_attribute_values(":read", time(meter.at))
            .expression_attribute_values(":open", s(OPEN))
            .expression_attribute_values(":version", n(version))
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":micros", n(total))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":cost", serde_dynamo::to_attribute_value(&cost)?);
        let mut transaction = Transaction::default().with(
            Part::Record,
            TransactWriteItem::builder()
                .update(build(update.build())?)
                .build(),
        );
        for (month, micros) in accrued.by_month().iter().filter(|(_, m)| **m > 0) {
            transaction.push(
                Part::Spend,
                self.add_spend(&sandbox.tenant, month_key(month), *micros)?,
            );
            if let Some(account) = &sandbox.account_id {
                transaction.push(
                    Part::Spend,
                    self.add_spend(&sandbox.tenant, account_month_key(month, account), *micros)?,
                );
            }
        }
        // Each day's too, for the daily comparison with Cost Explorer; a window of more days
        // than a transaction holds (a clock moved far ahead) keeps its months only.
        let days: Vec<_> = accrued.by_day.iter().filter(|(_, m)| **m > 0).collect();
        if days.len() <= MAX_DAYS_PER_WRITE {
            for (day, micros) in days {
                transaction.push(
                    Part::Spend,
                    self.add_spend(&sandbox.tenant, day_key(day), *micros)?,
                );
            }
        }
        match self.transact(transaction).await {
            Ok(()) => Ok(true),
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Record) => Ok(false),
            Err(TxError::Cancelled(cancelled)) => Err(StoreError::Contended {
                operation: "the meter of a sandbox",
                attempts: u32::from(cancelled.contended()),
            }),
            Err(TxError::Failed(err)) => Err(err),
        }
    }

    async fn budget(&self, tenant: &str) -> Result<Option<Budget>, StoreError> {
        match self.get_tenant_item(tenant, BUDGET_KEY).await? {
            Some(item) => Ok(Some(serde_dynamo::from_item(item)?)),
            None => Ok(None),
        }
    }

    async fn put_budget(&self, tenant: &str, budget: &Budget, event: &BudgetEvent) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(budget)?;
        item.insert("tenant".into(), s(tenant));
        item.insert("key".into(), s(BUDGET_KEY));
        let put = Put::builder()
            .table_name(self.config.tables.tenants()?)
            .set_item(Some(item));
        let transaction = Transaction::default()
            .with(
                Part::Spend,
                TransactWriteItem::builder().put(build(put.build())?).build(),
            )
            .with(Part::Event, self.append_item(&budget_partition(tenant), event)?);
        match self.transact(transaction).await {
            Ok(()) => Ok(()),
            // The same change given twice in one millisecond: recorded once.
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Event) => Ok(()),
            Err(TxError::Cancelled(cancelled)) => Err(StoreError::Contended {
                operation: "the budget of a tenant",
                attempts: u32::from(cancelled.contended()),
            }),
            Err(TxError::Failed(err)) => Err(err),
        }
    }

    async fn month_spend(&self, tenant: &str, month: &str) -> Result<MonthSpend, StoreError> {
        let item = self.spend_item(tenant, &month_key(month)).await?;
        Ok(MonthSpend {
            tenant: tenant.to_owned(),
            month: month.to_owned(),
            spent: Usd(item.micros),
            warned: item.warned,
        })
    }

    async fn account_spend(&self, tenant: &str, account_id: &str, month: &str) -> Result<Usd, StoreError> {
        let item = self
            .spend_item(tenant, &account_month_key(month, account_id))
            .await?;
        Ok(Usd(item.micros))
    }

    async fn warn_thresholds(
        &self,
        spend: &MonthSpend,
        warned: &[u32],
        events: &[BudgetEvent],
    ) -> Result<bool, StoreError> {
        let mut update = Update::builder()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(&spend.tenant))
            .key("key", s(month_key(&spend.month)))
            .update_expression("SET #warned = :warned")
            .expression_attribute_names("#warned", "warned")
            .expression_attribute_values(":warned", serde_dynamo::to_attribute_value(warned)?);
        update = if spend.warned.is_empty() {
            update
                .condition_expression("attribute_not_exists(#warned) OR size(#warned) = :zero")
                .expression_attribute_values(":zero", n(0))
        } else {
            update
                .condition_expression("#warned = :read")
                .expression_attribute_values(":read", serde_dynamo::to_attribute_value(&spend.warned)?)
        };
        let mut transaction = Transaction::default().with(
            Part::Spend,
            TransactWriteItem::builder()
                .update(build(update.build())?)
                .build(),
        );
        for event in events {
            transaction.push(
                Part::Event,
                self.append_item(&budget_partition(&spend.tenant), event)?,
            );
        }
        match self.transact(transaction).await {
            Ok(()) => Ok(true),
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Spend) => Ok(false),
            Err(TxError::Cancelled(cancelled)) => Err(StoreError::Contended {
                operation: "the thresholds of a budget",
                attempts: u32::from(cancelled.contended()),
            }),
            Err(TxError::Failed(err)) => Err(err),
        }
    }

    async fn budget_events(&self, tenant: &str) -> Result<Vec<BudgetEvent>, StoreError> {
        self.read_partition(&budget_partition(tenant)).await
    }
}

/// Where the day of the last comparison with Cost Explorer is kept: a tenant name cannot begin
/// with `@`.
const DRIFT_CHECK: (&str, &str) = ("@sbx", "drift-check");

fn drift_key(month: &str) -> String {
    format!("drift#{month}")
}

impl DriftStore for DynamoStore {
    async fn days_spend(&self, tenant: &str, first: &str, last: &str) -> Result<Usd, StoreError> {
        let mut total = 0;
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.config.tables.tenants()?)
                .key_condition_expression("#tenant = :tenant AND #key BETWEEN :first AND :last")
                .expression_attribute_names("#tenant", "tenant")
                .expression_attribute_names("#key", "key")
                .expression_attribute_values(":tenant", s(tenant))
                .expression_attribute_values(":first", s(day_key(first)))
                .expression_attribute_values(":last", s(day_key(last)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::aws("Query", e))?;
            for item in output.items.unwrap_or_default() {
                let spend: SpendItem = serde_dynamo::from_item(item)?;
                total += spend.micros;
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(Usd(total));
            }
        }
    }

    async fn claim_drift_check(&self, day: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(DRIFT_CHECK.0))
            .key("key", s(DRIFT_CHECK.1))
            .update_expression("SET #day = :day")
            .condition_expression("attribute_not_exists(#day) OR #day < :day")
            .expression_attribute_names("#day", "checked_on")
            .expression_attribute_values(":day", s(day))
            .send()
            .await;
        Ok(written("UpdateItem", result)?.is_some())
    }

    async fn release_drift_check(&self, day: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(DRIFT_CHECK.0))
            .key("key", s(DRIFT_CHECK.1))
            .update_expression("REMOVE #day")
            .condition_expression("#day = :day")
            .expression_attribute_names("#day", "checked_on")
            .expression_attribute_values(":day", s(day))
            .send()
            .await;
        match result {
            // Another day's claim since: nothing of this one's to give back.
            Err(err) if !refused(&err) => Err(StoreError::aws("UpdateItem", err)),
            _ => Ok(()),
        }
    }

    async fn put_drift(&self, tenant: &str, drift: &Drift) -> Result<(), StoreError> {
        self.put_tenant_item(tenant, &drift_key(&drift.month), drift)
            .await
    }

    async fn drift(&self, tenant: &str, month: &str) -> Result<Option<Drift>, StoreError> {
        match self.get_tenant_item(tenant, &drift_key(month)).await? {
            Some(item) => Ok(Some(serde_dynamo::from_item(item)?)),
            None => Ok(None),
        }
    }
}
