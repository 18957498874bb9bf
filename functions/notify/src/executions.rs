//! Delivery executions on Step Functions: started under a name per delivery and round, so
//! that starting one twice starts it once.

use crate::error::NotifyError;
use crate::publish::{Deliveries, DeliveryInput};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::DisplayErrorContext;

pub struct StepFunctions {
    pub client: Client,
    pub state_machine: String,
}

impl Deliveries for StepFunctions {
    async fn start(&self, name: &str, input: &DeliveryInput) -> Result<(), NotifyError> {
        let input = serde_json::to_string(input).map_err(|e| NotifyError::Failed(e.to_string()))?;
        match self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine)
            .name(name)
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
            Err(err) => {
                let message = format!("StartExecution {name}: {}", DisplayErrorContext(&err));
                if sbx_transient::is_transient(&err) {
                    Err(NotifyError::Transient(message))
                } else {
                    Err(NotifyError::Failed(message))
                }
            }
        }
    }
}
