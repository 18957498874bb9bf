//! [`FakeBus`]: the `sbx` bus. It keeps what was put, in order; when failing, it refuses a
//! whole call as PutEvents' adapter does when any entry is refused (nothing of it is kept).

use super::locked;
use crate::error::NotifyError;
use crate::message::Message;
use crate::publish::Bus;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeBus {
    pub put: Mutex<Vec<Message>>,
    pub failing: Mutex<bool>,
}

impl FakeBus {
    /// The types of the messages put so far, in order.
    pub fn types(&self) -> Vec<String> {
        locked(&self.put).iter().map(|m| m.event_type.clone()).collect()
    }

    pub fn fail(&self, failing: bool) {
        *locked(&self.failing) = failing;
    }
}

impl Bus for FakeBus {
    async fn put(&self, messages: &[Message]) -> Result<(), NotifyError> {
        if *locked(&self.failing) {
            return Err(NotifyError::Transient(
                "PutEvents refused 1 entries: ThrottlingException".into(),
            ));
        }
        locked(&self.put).extend_from_slice(messages);
        Ok(())
    }
}
