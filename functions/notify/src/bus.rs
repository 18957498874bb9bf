//! The `sbx` bus on EventBridge: `source` `sbx`, `detail-type` the event's type, `detail` its
//! body. PutEvents takes ten entries a call and may refuse some of them (throttled, or an
//! internal failure): those are put again, a few times, before the batch fails.

use crate::error::NotifyError;
use crate::message::{Message, SOURCE};
use crate::publish::Bus;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

const ENTRIES_PER_CALL: usize = 10;
const ATTEMPTS: u32 = 4;

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
            let mut entries: Vec<PutEventsRequestEntry> = chunk.iter().map(|m| self.entry(m)).collect();
            let mut attempt = 1;
            loop {
                let output = self
                    .client
                    .put_events()
                    .set_entries(Some(entries.clone()))
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
                if output.failed_entry_count == 0 {
                    break;
                }
                // The answer's entries line up with the request's: put again those with an error.
                let results = output.entries.unwrap_or_default();
                entries = entries
                    .into_iter()
                    .zip(results.iter())
                    .filter(|(_, result)| result.error_code.is_some())
                    .map(|(entry, _)| entry)
                    .collect();
                if attempt >= ATTEMPTS || entries.is_empty() {
                    let codes: Vec<&str> = results.iter().filter_map(|r| r.error_code.as_deref()).collect();
                    return Err(NotifyError::Transient(format!(
                        "PutEvents refused {} entries: {}",
                        entries.len(),
                        codes.join(", ")
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
        }
        Ok(())
    }
}
