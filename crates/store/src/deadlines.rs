//! The sparse `by-deadline` index of the sandboxes table: a live record carries `deadline` and
//! `deadline_at`, the next time a deadline sweep must look at it (the first expiry warning that
//! may be due), so that a sweep reads only the sandboxes it may have to act on. A create and
//! an extension set it; the sweep moves it on, or removes it when nothing is left to warn of.

use crate::client::DynamoStore;
use crate::item::{Item, build, s};
use crate::schema::BY_DEADLINE;
use crate::transaction::{Part, Transaction, TxError};
use crate::{Deadlines, DueSandbox, Settled, StoreError};
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use sbx_lifecycle::rfc3339_millis;
use serde::Deserialize;

/// The value of `deadline`, the partition of the index.
const DUE: &str = "due";
/// How long before an expiry its first warning may be: the largest threshold allowed.
pub const WARNING_HORIZON: chrono::Duration = chrono::Duration::days(7);

/// The deadline a sandbox expiring at `expires_at` starts with.
pub fn first_deadline(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    (expires_at - WARNING_HORIZON).max(now.min(expires_at))
}

/// The attributes that put a record on the index at `at`.
pub(crate) fn deadline_attributes(item: &mut Item, at: DateTime<Utc>) {
    item.insert("deadline".into(), s(DUE));
    item.insert(
        "deadline_at".into(),
        s(rfc3339_millis::format(&rfc3339_millis::truncate(at))),
    );
}

#[derive(Deserialize)]
struct DeadlineFields {
    deadline_at: String,
    #[serde(default)]
    warned: Vec<u64>,
    #[serde(default, with = "rfc3339_millis::option")]
    looked_at: Option<DateTime<Utc>>,
    #[serde(default, with = "rfc3339_millis::option")]
    idle_warned_at: Option<DateTime<Utc>>,
}

impl DynamoStore {
    pub(crate) async fn read_deadlines(
        &self,
        at: DateTime<Utc>,
        limit: usize,
    ) -> Result<Deadlines, StoreError> {
        let mut deadlines = Deadlines::default();
        let mut start = None;
        let upto = rfc3339_millis::format(&rfc3339_millis::truncate(at));
        while deadlines.items.len() < limit {
            let output = self
                .client
                .query()
                .table_name(self.config.tables.sandboxes()?)
                .index_name(BY_DEADLINE)
                .key_condition_expression("#deadline = :due AND #at <= :upto")
                .expression_attribute_names("#deadline", "deadline")
                .expression_attribute_names("#at", "deadline_at")
                .expression_attribute_values(":due", s(DUE))
                .expression_attribute_values(":upto", s(&upto))
                .limit((limit - deadlines.items.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::aws("Query", e))?;
            deadlines.read += output.scanned_count.max(0) as u64;
            for item in output.items.unwrap_or_default() {
                let fields: DeadlineFields = serde_dynamo::from_item(item.clone())?;
                let deadline_at = chrono::DateTime::parse_from_rfc3339(&fields.deadline_at)
                    .map_err(|e| StoreError::Malformed(format!("deadline_at: {e}")))?
                    .with_timezone(&Utc);
                deadlines.items.push(DueSandbox {
                    sandbox: serde_dynamo::from_item(item)?,
                    deadline_at,
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
        Ok(deadlines)
    }

    /// Moves `due_sandbox`'s deadline to `settled.next` (off the index when `None`), records the
    /// thresholds warned of for its expiry and the time looked as of, and puts the notice: one
    /// transaction, compared on the deadline and expiry as read. `Ok(false)` when either changed
    /// since (another sweep, an extension, a new schedule).
    pub(crate) async fn write_deadline(
        &self,
        due_sandbox: &DueSandbox,
        settled: &Settled<'_>,
    ) -> Result<bool, StoreError> {
        let Settled {
            warned,
            notices,
            next,
            looked_at,
            idle_warned_at,
        } = *settled;
        let sandbox = &due_sandbox.sandbox;
        let mut update = Update::builder()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(&sandbox.tenant))
            .key("id", s(&sandbox.id))
            .condition_expression("#at = :read AND #expires = :expires")
            .expression_attribute_names("#at", "deadline_at")
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
                    due_sandbox.deadline_at,
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
                remove.extend(["#deadline", "#at"]);
                update = update.expression_attribute_names("#deadline", "deadline");
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
                self.append_item(
                    &crate::events::event_partition(&notice.tenant, &notice.sandbox_id),
                    notice,
                )?,
            );
        }
        match self.transact(transaction).await {
            Ok(()) => Ok(true),
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Record) => Ok(false),
            // Given before (a sweep that died after its write): the deadline moves on without it.
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Event) => {
                let without = Settled {
                    notices: &[],
                    ..*settled
                };
                Box::pin(self.write_deadline(due_sandbox, &without)).await
            }
            Err(TxError::Cancelled(cancelled)) => Err(StoreError::Contended {
                operation: "the deadline of a sandbox",
                attempts: u32::from(cancelled.contended()),
            }),
            Err(TxError::Failed(err)) => Err(err),
        }
    }
}
