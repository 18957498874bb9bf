//! The sparse `by-alarm` index of the sandboxes table: a live record carries `alarm` and
//! `alarm_at`, the next time a deadline sweep must look at it (the first expiry warning that
//! may be due), so that a sweep reads only the sandboxes it may have to act on. A create and
//! an extension set it; the sweep moves it on, or removes it when nothing is left to warn of.

use crate::client::DynamoStore;
use crate::item::{Item, build, s};
use crate::notice::notice_partition;
use crate::schema::BY_ALARM;
use crate::transaction::{Part, Transaction, TxError};
use crate::{Alarmed, Alarms, Settled, StoreError};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use sbx_lifecycle::rfc3339_millis;
use serde::Deserialize;

/// The value of `alarm`, the partition of the index.
const DUE: &str = "due";
/// How long before an expiry its first warning may be: the largest threshold allowed.
pub const WARNING_HORIZON: chrono::Duration = chrono::Duration::days(7);

/// The alarm a sandbox expiring at `expires_at` starts with.
pub fn first_alarm(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    (expires_at - WARNING_HORIZON).max(now.min(expires_at))
}

/// The attributes that put a record on the index at `at`.
pub(crate) fn alarm_attributes(item: &mut Item, at: DateTime<Utc>) {
    item.insert("alarm".into(), s(DUE));
    item.insert(
        "alarm_at".into(),
        s(rfc3339_millis::format(&rfc3339_millis::truncate(at))),
    );
}

#[derive(Deserialize)]
struct AlarmFields {
    alarm_at: String,
    #[serde(default)]
    warned: Vec<u64>,
    #[serde(default, with = "rfc3339_millis::option")]
    looked_at: Option<DateTime<Utc>>,
    #[serde(default, with = "rfc3339_millis::option")]
    idle_warned_at: Option<DateTime<Utc>>,
}

impl DynamoStore {
    pub(crate) async fn read_alarms(&self, at: DateTime<Utc>, limit: usize) -> Result<Alarms, StoreError> {
        let mut alarms = Alarms::default();
        let mut start = None;
        let upto = rfc3339_millis::format(&rfc3339_millis::truncate(at));
        while alarms.items.len() < limit {
            let output = self
                .client
                .query()
                .table_name(&self.config.tables.sandboxes)
                .index_name(BY_ALARM)
                .key_condition_expression("#alarm = :due AND #at <= :upto")
                .expression_attribute_names("#alarm", "alarm")
                .expression_attribute_names("#at", "alarm_at")
                .expression_attribute_values(":due", s(DUE))
                .expression_attribute_values(":upto", s(&upto))
                .limit((limit - alarms.items.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::aws("Query", e))?;
            alarms.read += output.scanned_count.max(0) as u64;
            for item in output.items.unwrap_or_default() {
                let fields: AlarmFields = serde_dynamo::from_item(item.clone())?;
                let alarm_at = chrono::DateTime::parse_from_rfc3339(&fields.alarm_at)
                    .map_err(|e| StoreError::Malformed(format!("alarm_at: {e}")))?
                    .with_timezone(&Utc);
                alarms.items.push(Alarmed {
                    sandbox: serde_dynamo::from_item(item)?,
                    alarm_at,
                    warned: fields.warned,
                    looked_at: fields.looked_at,
                    idle_warned_at: fields.idle_warned_at,
                });
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(alarms)
    }

    /// Moves `alarmed`'s alarm to `settled.next` (off the index when `None`), records the
    /// thresholds warned of for its expiry and the time looked as of, and puts the notice: one
    /// transaction, compared on the alarm and expiry as read. `Ok(false)` when either changed
    /// since (another sweep, an extension, a new schedule).
    pub(crate) async fn write_alarm(
        &self,
        alarmed: &Alarmed,
        settled: &Settled<'_>,
    ) -> Result<bool, StoreError> {
        let Settled {
            warned,
            notices,
            next,
            looked_at,
            idle_warned_at,
        } = *settled;
        let sandbox = &alarmed.sandbox;
        let mut update = Update::builder()
            .table_name(&self.config.tables.sandboxes)
            .key("tenant", s(&sandbox.tenant))
            .key("id", s(&sandbox.id))
            .condition_expression("#at = :read AND #expires = :expires")
            .expression_attribute_names("#at", "alarm_at")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_names("#warned", "warned")
            .expression_attribute_names("#looked", "looked_at")
            .expression_attribute_values(
                ":looked",
                s(rfc3339_millis::format(&rfc3339_millis::truncate(looked_at))),
            )
            .expression_attribute_values(
                ":read",
                s(rfc3339_millis::format(&rfc3339_millis::truncate(
                    alarmed.alarm_at,
                ))),
            )
            .expression_attribute_values(":expires", s(rfc3339_millis::format(&sandbox.expires_at)))
            .expression_attribute_values(":warned", serde_dynamo::to_attribute_value(warned)?);
        let mut set = vec!["#warned = :warned", "#looked = :looked"];
        let mut remove = Vec::new();
        update = update.expression_attribute_names("#idle", "idle_warned_at");
        match idle_warned_at {
            Some(at) => {
                set.push("#idle = :idle");
                update = update.expression_attribute_values(
                    ":idle",
                    s(rfc3339_millis::format(&rfc3339_millis::truncate(at))),
                );
            }
            None => remove.push("#idle"),
        }
        match next {
            Some(next) => {
                set.push("#at = :next");
                update = update.expression_attribute_values(
                    ":next",
                    s(rfc3339_millis::format(&rfc3339_millis::truncate(next))),
                );
            }
            None => {
                remove.extend(["#alarm", "#at"]);
                update = update.expression_attribute_names("#alarm", "alarm");
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        update = update.update_expression(expression);
        let mut transaction = Transaction::default().with(
            Part::Record,
            TransactWriteItem::builder()
                .update(build(update.build())?)
                .build(),
        );
        for notice in notices {
            transaction.push(
                Part::Event,
                self.append_item(&notice_partition(&notice.tenant, &notice.sandbox_id), notice)?,
            );
        }
        match self.transact(transaction).await {
            Ok(()) => Ok(true),
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Record) => Ok(false),
            // Given before (a sweep that died after its write): the alarm moves on without it.
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Event) => {
                let without = Settled {
                    notices: &[],
                    ..*settled
                };
                Box::pin(self.write_alarm(alarmed, &without)).await
            }
            Err(TxError::Cancelled(cancelled)) => Err(StoreError::Contended {
                operation: "the alarm of a sandbox",
                attempts: u32::from(cancelled.contended()),
            }),
            Err(TxError::Failed(err)) => Err(err),
        }
    }
}
