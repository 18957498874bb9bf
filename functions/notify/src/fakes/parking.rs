//! [`FakeParking`]: the queue unreadable stream records are parked in, which keeps what it was
//! given and can refuse (a throttled SQS).

use super::locked;
use crate::error::NotifyError;
use crate::park::{Parked, Parking};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct FakeParking {
    parked: Mutex<Vec<Parked>>,
    failing: AtomicBool,
}

impl FakeParking {
    /// Refuses every message (throttled) until [`FakeParking::recover`].
    pub fn fail(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    pub fn recover(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }

    /// The sequence numbers of the records parked, in order.
    pub fn parked(&self) -> Vec<String> {
        locked(&self.parked)
            .iter()
            .map(|parked| parked.sequence_number.clone())
            .collect()
    }
}

impl Parking for FakeParking {
    async fn park(&self, parked: &Parked) -> Result<(), NotifyError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(NotifyError::Transient("SQS SendMessage: throttled".into()));
        }
        locked(&self.parked).push(parked.clone());
        Ok(())
    }
}
