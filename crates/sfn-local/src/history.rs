//! An execution's event history, in the shape of GetExecutionHistory.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    /// The AWS event type, e.g. `TaskStateEntered`.
    pub kind: String,
    /// The details member (e.g. `stateEnteredEventDetails`) and its content.
    pub details: Option<(String, Value)>,
}

impl Event {
    /// The event as the API returns it.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert(
            "timestamp".into(),
            json!(self.timestamp.timestamp_millis() as f64 / 1000.0),
        );
        object.insert("type".into(), json!(self.kind));
        object.insert("id".into(), json!(self.id));
        object.insert("previousEventId".into(), json!(self.previous_event_id));
        if let Some((key, details)) = &self.details {
            object.insert(key.clone(), details.clone());
        }
        Value::Object(object)
    }
}

#[derive(Debug, Default)]
pub struct History {
    events: Mutex<Vec<Event>>,
}

impl History {
    /// Appends an event that follows `previous` (0 for none) and returns its id.
    pub fn push(&self, previous: u64, kind: &str, details: Option<(&str, Value)>) -> u64 {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = events.len() as u64 + 1;
        events.push(Event {
            id,
            previous_event_id: previous,
            timestamp: Utc::now(),
            kind: kind.to_owned(),
            details: details.map(|(key, value)| (key.to_owned(), value)),
        });
        id
    }

    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn len(&self) -> usize {
        self.events.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A value as history details carry it: JSON text.
pub fn text(value: &Value) -> String {
    value.to_string()
}
