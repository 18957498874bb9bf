//! The `sbx` bus on EventBridge: `source` `sbx`, `detail-type` the event's type, `detail` its
//! body. PutEvents takes ten entries a call and may refuse some of them (throttled, or an
//! internal failure): then the batch fails, and is given again whole (no waiting in here).

use crate::error::NotifyError;
use crate::message::{Message, SOURCE};
use crate::publish::Bus;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

const ENTRIES_PER_CALL: usize = 10;

pub struct EventBridge {
    pub client: Client,
    pub bus: String,
}

impl EventBridge {
    fn entry(&self, message: &Message) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(&message.event_type)
            .detail(message.body())
            .time(DateTime::from_millis(message.timestamp.timestamp_millis()))
            .build()
    }
}

impl Bus for EventBridge {
    async fn put(&self, messages: &[Message]) -> Result<(), NotifyError> {
        for chunk in messages.chunks(ENTRIES_PER_CALL) {
            let entries: Vec<PutEventsRequestEntry> = chunk.iter().map(|m| self.entry(m)).collect();
            let output = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    let message = format!("PutEvents: {}", DisplayErrorContext(&e));
                    if sbx_transient::is_transient(&e) {
                        NotifyError::Transient(message)
                    } else {
                        NotifyError::Failed(message)
                    }
                })?;
            if output.failed_entry_count > 0 {
                // The batch is given again by the event source mapping, after its own backoff;
                // the entries that were put are put again under their stable ids.
                let codes: Vec<&str> = output.entries().iter().filter_map(|r| r.error_code()).collect();
                return Err(NotifyError::Transient(format!(
                    "PutEvents refused {} entries: {}",
                    output.failed_entry_count,
                    codes.join(", ")
                )));
            }
        }
        Ok(())
    }
}
