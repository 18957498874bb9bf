//! [`FakeStream`]: the events table's stream, as the new images it carries: each change of
//! state is the item the store puts (the event, with its partition in `sandbox`), in the order
//! the changes were made. `publish-events` reads a batch of it with [`FakeStream::entries`].

use crate::message::Entry;
use chrono::{DateTime, Utc};
use sbx_lifecycle::{Event, Operation, State};

#[derive(Debug, Default)]
pub struct FakeStream {
    pub items: Vec<serde_dynamo::Item>,
}

impl FakeStream {
    /// The change of `tenant`'s sandbox `sandbox` to `to`, its `seq`-th.
    pub fn change(mut self, tenant: &str, sandbox: &str, seq: u64, from: Option<State>, to: State) -> Self {
        let event = Event {
            tenant: tenant.into(),
            sandbox_id: sandbox.into(),
            seq,
            at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(seq as i64),
            operation: Operation::Create,
            from,
            to,
            error: None,
            cause: None,
            actor: None,
        };
        let mut item: serde_dynamo::Item = serde_dynamo::to_item(&event).unwrap_or_else(|e| panic!("{e}"));
        item.insert(
            "sandbox".into(),
            serde_dynamo::AttributeValue::S(format!("{tenant}#{sandbox}")),
        );
        self.items.push(item);
        self
    }

    /// An item of a partition that is not published (an account's infrastructure journal).
    pub fn journal(mut self, account: &str, seq: u64) -> Self {
        self.items.push(keyed(&format!("@account#{account}"), seq));
        self
    }

    /// An item this version cannot read: a sandbox's event of a shape it does not know (a
    /// new field in place of `to`, as an upgrade might put).
    pub fn unknown(mut self, tenant: &str, sandbox: &str) -> Self {
        let mut item = keyed(&format!("{tenant}#{sandbox}"), 1);
        item.insert(
            "next_state".into(),
            serde_dynamo::AttributeValue::S("hibernated".into()),
        );
        self.items.push(item);
        self
    }

    /// The batch as the event source mapping gives it: each item with its sequence number
    /// (`100`, `101`, ...).
    pub fn records(&self) -> Vec<crate::batch::Record> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| crate::batch::Record {
                sequence_number: (100 + i).to_string(),
                new_image: item.clone(),
            })
            .collect()
    }

    /// The batch as `publish-events` reads it.
    pub fn entries(&self) -> Vec<Entry> {
        self.items
            .iter()
            .cloned()
            .map(|item| Entry::from_item(item).unwrap_or_else(|e| panic!("a stream item: {e}")))
            .collect()
    }
}

/// An item with the events table's key alone: its partition and number.
fn keyed(partition: &str, seq: u64) -> serde_dynamo::Item {
    let mut item =
        serde_dynamo::Item::from(std::collections::HashMap::<String, serde_dynamo::AttributeValue>::new());
    item.insert(
        "sandbox".into(),
        serde_dynamo::AttributeValue::S(partition.to_owned()),
    );
    item.insert("seq".into(), serde_dynamo::AttributeValue::N(seq.to_string()));
    item
}
