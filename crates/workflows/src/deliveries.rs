//! Webhook delivery executions (`statemachines/deliver.asl.json`), started by `publish-events`
//! for a new delivery and by the API for a redelivery: one execution per delivery and round,
//! under a name of its own, so that starting one twice starts it once.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::DisplayErrorContext;
use sbx_store::Delivery;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::future::Future;

/// What a delivery's execution gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryInput {
    pub tenant: String,
    pub endpoint: String,
    pub delivery: String,
}

impl DeliveryInput {
    pub fn of(delivery: &Delivery) -> Self {
        Self {
            tenant: delivery.tenant.clone(),
            endpoint: delivery.endpoint.clone(),
            delivery: delivery.id(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("StartExecution {name}: {message}")]
pub struct StartError {
    name: String,
    message: String,
    /// Worth trying again (`sbx_transient`).
    pub transient: bool,
}

impl StartError {
    pub fn new(name: impl Into<String>, message: impl Into<String>, transient: bool) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
            transient,
        }
    }
}

/// Starts delivery executions.
pub trait Deliveries: Send + Sync {
    /// Starts the execution of `delivery`'s current round; one already started is no error.
    fn start(&self, delivery: &Delivery) -> impl Future<Output = Result<(), StartError>> + Send;
}

/// The execution name of `delivery`'s current round (its redeliveries): at most 80 characters
/// of `[A-Za-z0-9_-]`, the same for the same delivery and round.
pub fn execution_name(delivery: &Delivery) -> String {
    let digest = Sha256::digest(format!("{}/{}", delivery.endpoint, delivery.id()).as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}-{}", delivery.endpoint, delivery.redeliveries)
}

/// The `deliver` state machine on Step Functions.
pub struct DeliveryExecutions {
    pub client: Client,
    pub state_machine: String,
}

impl Deliveries for DeliveryExecutions {
    async fn start(&self, delivery: &Delivery) -> Result<(), StartError> {
        let name = execution_name(delivery);
        let input = serde_json::to_string(&DeliveryInput::of(delivery)).unwrap_or_default();
        match self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine)
            .name(&name)
            .input(input)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_execution_already_exists()) =>
            {
                Ok(())
            }
            Err(err) => Err(StartError {
                transient: sbx_transient::is_transient(&err),
                message: DisplayErrorContext(&err).to_string(),
                name,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_store::{DeliveryStatus, Order};

    #[test]
    fn a_delivery_and_round_have_one_short_name() {
        let mut delivery = Delivery {
            tenant: "acme".into(),
            endpoint: "wh_0123456789ab".into(),
            stream: "sb-0123456789ab".into(),
            order: Order {
                version: 12,
                notice: 0,
            },
            message_id: "evt_1".into(),
            event_type: "sandbox.started".into(),
            body: "{}".into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            redeliveries: 0,
            last: None,
            next_at: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        let first = execution_name(&delivery);
        assert_eq!(first, execution_name(&delivery.clone()));
        assert!(
            first.len() <= 80
                && first
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        delivery.redeliveries = 1;
        assert_ne!(first, execution_name(&delivery));
        delivery.redeliveries = 0;
        delivery.order.version = 13;
        assert_ne!(first, execution_name(&delivery));
    }
}
