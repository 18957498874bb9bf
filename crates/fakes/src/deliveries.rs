//! [`FakeDeliveries`]: the webhook deliveries' executions
//! (`sbx_workflows::deliveries::Deliveries`) as Step Functions starts them, without running
//! anything: an execution is started once per name (`execution_name`: a delivery and its
//! round), and each is remembered with its input.

use crate::locked;
use sbx_store::Delivery;
use sbx_workflows::deliveries::{Deliveries, DeliveryInput, StartError, execution_name};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct FakeDeliveries {
    /// execution name → input, in the order they were started.
    pub started: Mutex<Vec<(String, DeliveryInput)>>,
    /// When set, every start fails so (transient or not), as a throttled or refused
    /// StartExecution does.
    pub failing: Mutex<Option<bool>>,
}

impl FakeDeliveries {
    /// The inputs of the executions started so far.
    pub fn inputs(&self) -> Vec<DeliveryInput> {
        locked(&self.started)
            .iter()
            .map(|(_, input)| input.clone())
            .collect()
    }

    /// Every later start fails: `transient` as a throttle, otherwise as a refusal.
    pub fn fail(&self, transient: bool) {
        *locked(&self.failing) = Some(transient);
    }

    /// Later starts succeed again.
    pub fn recover(&self) {
        *locked(&self.failing) = None;
    }
}

impl Deliveries for FakeDeliveries {
    async fn start(&self, delivery: &Delivery) -> Result<(), StartError> {
        let name = execution_name(delivery);
        if let Some(transient) = *locked(&self.failing) {
            return Err(StartError::new(name, "the fake refuses every start", transient));
        }
        let mut started = locked(&self.started);
        if !started.iter().any(|(known, _)| *known == name) {
            started.push((name, DeliveryInput::of(delivery)));
        }
        Ok(())
    }
}
