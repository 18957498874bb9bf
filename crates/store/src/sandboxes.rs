//! The sandboxes table: the records, keyed by tenant and id, with the sparse `by-expiry`
//! index's `live` attribute on live records and a TTL on deleted ones.

use crate::client::DynamoStore;
use crate::item::{Item, build, n, s, updated};
use crate::page;
use crate::schema::{BY_EXPIRY, BY_STATE};
use crate::transaction::WRITE_TOKEN;
use crate::{ListQuery, Page, StoreError, Sweeps, Swept};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use sbx_lifecycle::{Change, Sandbox, State};
use std::collections::HashMap;

/// The value of the `live` attribute, the partition of the sparse `by-expiry` index.
const LIVE: &str = "live";
const LIVE_ATTRIBUTE: &str = "live";
/// When DynamoDB removes a record that is no longer live.
const TTL_ATTRIBUTE: &str = "ttl";

/// What a change of state writes: the state, its version and time, what the state carries
/// (failure, endpoints, the operator's execution), the index and TTL attributes, and the
/// writing transaction's token. Never the
/// name, options, creation time, expiry or account, which other writers own.
const STATE_ATTRIBUTES: [&str; 9] = [
    "state",
    "version",
    "updated_at",
    "failure",
    "execution",
    "endpoints",
    LIVE_ATTRIBUTE,
    TTL_ATTRIBUTE,
    WRITE_TOKEN,
];

impl DynamoStore {
    /// The write of `change`'s record: a new record is put whole, on the condition that there
    /// is none; a change of state updates only the attributes a change of state owns, compared
    /// on the state and version it was read at. What other writers set meanwhile without
    /// changing the version (the expiry, the account) is kept.
    pub(crate) fn record_item(&self, change: &Change, token: &str) -> Result<TransactWriteItem, StoreError> {
        let mut record: Item = serde_dynamo::to_item(&change.record)?;
        record.insert(WRITE_TOKEN.into(), s(token));
        let ttl = n((change.record.updated_at + self.config.deleted_retention).timestamp());
        if change.record.state.is_live() {
            record.insert(LIVE_ATTRIBUTE.into(), s(LIVE));
        } else {
            record.insert(TTL_ATTRIBUTE.into(), ttl);
        }
        let Some((state, version)) = change.expected() else {
            crate::deadlines::deadline_attributes(
                &mut record,
                crate::deadlines::first_deadline(change.record.expires_at, change.record.created_at),
            );
            crate::spend::meter_attributes(&mut record, &change.record);
            let put = Put::builder()
                .table_name(self.config.tables.sandboxes()?)
                .set_item(Some(record))
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", "id");
            return Ok(TransactWriteItem::builder().put(build(put.build())?).build());
        };
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut update = Update::builder()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(&change.record.tenant))
            .key("id", s(&change.record.id));
        for (i, attribute) in STATE_ATTRIBUTES.iter().enumerate() {
            let name = format!("#a{i}");
            match record.remove(*attribute) {
                Some(value) => {
                    set.push(format!("{name} = :a{i}"));
                    update = update.expression_attribute_values(format!(":a{i}"), value);
                }
                None => remove.push(name.clone()),
            }
            update = update.expression_attribute_names(name, *attribute);
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let update = update
            .update_expression(expression)
            .condition_expression("#state = :expected_state AND #version = :expected_version")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected_state", s(state.as_str()))
            .expression_attribute_values(":expected_version", n(version));
        Ok(TransactWriteItem::builder()
            .update(build(update.build())?)
            .build())
    }

    pub(crate) async fn read_record(&self, tenant: &str, id: &str) -> Result<Sandbox, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        match found.item {
            Some(item) => Ok(serde_dynamo::from_item(item)?),
            None => Err(StoreError::NotFound { id: id.to_owned() }),
        }
    }

    pub(crate) async fn query_page(&self, tenant: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let limit = match query.limit {
            0 => ListQuery::DEFAULT_LIMIT,
            limit => limit.min(ListQuery::MAX_LIMIT),
        };
        let mut start = match &query.next_token {
            Some(token) => {
                let last_id = page::decode(&self.config.page_key, token, tenant, query.state)?;
                Some(HashMap::from([
                    ("tenant".to_owned(), s(tenant)),
                    ("id".to_owned(), s(last_id)),
                ]))
            }
            None => None,
        };
        let mut items = Vec::new();
        // With a state filter, a query may return fewer matches than it read: read on until the
        // page is full or the tenant's records end, in a bounded number of rounds.
        for _ in 0..page::MAX_ROUNDS {
            let remaining = limit - items.len() as u32;
            let mut request = self
                .client
                .query()
                .table_name(self.config.tables.sandboxes()?)
                .key_condition_expression("#tenant = :tenant")
                .expression_attribute_names("#tenant", "tenant")
                .expression_attribute_values(":tenant", s(tenant))
                .consistent_read(true)
                .limit(remaining as i32)
                .set_exclusive_start_key(start.take());
            if let Some(state) = query.state {
                request = request
                    .filter_expression("#state = :state")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":state", s(state.as_str()));
            }
            let output = request.send().await.map_err(|e| StoreError::aws("Query", e))?;
            for item in output.items.unwrap_or_default() {
                items.push(serde_dynamo::from_item::<_, Sandbox>(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() || items.len() as u32 >= limit {
                break;
            }
        }
        let next_token = match start {
            Some(key) => {
                let last_id = key
                    .get("id")
                    .and_then(|id| id.as_s().ok())
                    .ok_or_else(|| StoreError::Malformed("LastEvaluatedKey without an id".into()))?;
                Some(page::encode(&self.config.page_key, tenant, last_id, query.state))
            }
            None => None,
        };
        Ok(Page { items, next_token })
    }

    pub(crate) async fn set_account(
        &self,
        tenant: &str,
        id: &str,
        account_id: &str,
    ) -> Result<Sandbox, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .update_expression("SET #account = :account")
            .condition_expression(
                "attribute_exists(#id) AND (attribute_not_exists(#account) OR #account = :account)",
            )
            .expression_attribute_names("#account", "account_id")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":account", s(account_id))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match updated(result)? {
            Some(sandbox) => Ok(sandbox),
            None => {
                // NotFound when there is no such record; otherwise it lives in another account.
                self.read_record(tenant, id).await?;
                Err(StoreError::AccountUnavailable {
                    account_id: account_id.to_owned(),
                    state: crate::AccountState::Assigned,
                })
            }
        }
    }

    pub(crate) async fn set_execution(
        &self,
        tenant: &str,
        id: &str,
        operation: sbx_lifecycle::Operation,
        version: u64,
        execution: &str,
    ) -> Result<Sandbox, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .update_expression("SET #execution = :execution")
            .condition_expression("#version = :version")
            .expression_attribute_names("#execution", "execution")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":execution", s(execution))
            .expression_attribute_values(":version", n(version))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match updated(result)? {
            Some(sandbox) => Ok(sandbox),
            None => {
                let current = self.read_record(tenant, id).await?;
                Err(StoreError::Conflict(sbx_lifecycle::Refused {
                    operation,
                    current: current.state,
                }))
            }
        }
    }

    pub(crate) async fn set_expiry(
        &self,
        tenant: &str,
        id: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<Sandbox, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .update_expression(
                "SET #expires = :expires, #deadline = :due, #deadline_at = :deadline_at REMOVE #warned",
            )
            .expression_attribute_names("#deadline", "deadline")
            .expression_attribute_names("#deadline_at", "deadline_at")
            .expression_attribute_names("#warned", "warned")
            .expression_attribute_values(":due", s("due"))
            .expression_attribute_values(
                ":deadline_at",
                s(sbx_lifecycle::rfc3339_millis::format(
                    &sbx_lifecycle::rfc3339_millis::truncate(crate::deadlines::first_deadline(
                        expires_at,
                        Utc::now(),
                    )),
                )),
            )
            .condition_expression("attribute_exists(#id) AND NOT (#state IN (:deleting, :deleted))")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(
                ":expires",
                s(sbx_lifecycle::rfc3339_millis::format(
                    &sbx_lifecycle::rfc3339_millis::truncate(expires_at),
                )),
            )
            .expression_attribute_values(":deleting", s(State::Deleting.as_str()))
            .expression_attribute_values(":deleted", s(State::Deleted.as_str()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match updated(result)? {
            Some(sandbox) => Ok(sandbox),
            None => {
                // NotFound when there is no such record; otherwise it is being deleted.
                let current = self.read_record(tenant, id).await?;
                Err(StoreError::NotExtendable {
                    id: id.to_owned(),
                    state: current.state,
                })
            }
        }
    }
}

impl DynamoStore {
    pub(crate) async fn write_schedule(
        &self,
        tenant: &str,
        id: &str,
        schedule: &sbx_lifecycle::Schedule,
        now: DateTime<Utc>,
    ) -> Result<Sandbox, StoreError> {
        let now = sbx_lifecycle::rfc3339_millis::format(&sbx_lifecycle::rfc3339_millis::truncate(now));
        let mut update = self
            .client
            .update_item()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .condition_expression("attribute_exists(#id) AND NOT (#state IN (:deleting, :deleted))")
            .expression_attribute_names("#schedule", "schedule")
            .expression_attribute_names("#deadline", "deadline")
            .expression_attribute_names("#deadline_at", "deadline_at")
            .expression_attribute_names("#looked", "looked_at")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":due", s("due"))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":deleting", s(State::Deleting.as_str()))
            .expression_attribute_values(":deleted", s(State::Deleted.as_str()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        // Its occurrences from now on count; the next deadline sweep sets the deadline for them.
        update = if schedule.is_empty() {
            update.update_expression(
                "SET #deadline = :due, #deadline_at = :now, #looked = :now REMOVE #schedule",
            )
        } else {
            update
                .update_expression(
                    "SET #schedule = :schedule, #deadline = :due, #deadline_at = :now, #looked = :now",
                )
                .expression_attribute_values(":schedule", serde_dynamo::to_attribute_value(schedule)?)
        };
        match updated(update.send().await)? {
            Some(sandbox) => Ok(sandbox),
            None => {
                let current = self.read_record(tenant, id).await?;
                Err(StoreError::NotExtendable {
                    id: id.to_owned(),
                    state: current.state,
                })
            }
        }
    }

    /// Reads an index partition in key order until `limit` records or its end.
    async fn sweep(
        &self,
        index: &str,
        key: (&str, &str),
        upto: Option<(&str, String)>,
        limit: usize,
    ) -> Result<Swept, StoreError> {
        let mut swept = Swept::default();
        let mut start = None;
        while swept.items.len() < limit {
            let mut request = self
                .client
                .query()
                .table_name(self.config.tables.sandboxes()?)
                .index_name(index)
                .expression_attribute_names("#key", key.0)
                .expression_attribute_values(":key", s(key.1))
                .limit((limit - swept.items.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take());
            request = match &upto {
                Some((attribute, value)) => request
                    .key_condition_expression("#key = :key AND #upto <= :upto")
                    .expression_attribute_names("#upto", *attribute)
                    .expression_attribute_values(":upto", s(value)),
                None => request.key_condition_expression("#key = :key"),
            };
            let output = request.send().await.map_err(|e| StoreError::aws("Query", e))?;
            swept.read += output.scanned_count.max(0) as u64;
            for item in output.items.unwrap_or_default() {
                swept.items.push(serde_dynamo::from_item::<_, Sandbox>(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(swept)
    }
}

impl Sweeps for DynamoStore {
    async fn due(&self, at: DateTime<Utc>, limit: usize) -> Result<Swept, StoreError> {
        let at = sbx_lifecycle::rfc3339_millis::format(&sbx_lifecycle::rfc3339_millis::truncate(at));
        self.sweep(BY_EXPIRY, ("live", LIVE), Some(("expires_at", at)), limit)
            .await
    }

    async fn in_state(&self, state: State, limit: usize) -> Result<Swept, StoreError> {
        self.sweep(BY_STATE, ("state", state.as_str()), None, limit).await
    }

    async fn deadlines_due(&self, at: DateTime<Utc>, limit: usize) -> Result<crate::Deadlines, StoreError> {
        self.read_deadlines(at, limit).await
    }

    async fn settle_deadline(
        &self,
        due_sandbox: &crate::DueSandbox,
        settled: &crate::Settled<'_>,
    ) -> Result<bool, StoreError> {
        self.write_deadline(due_sandbox, settled).await
    }
}
