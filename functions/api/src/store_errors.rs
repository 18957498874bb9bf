//! What a client is answered for each store error: its own mistakes (not found, a refused
//! change, a quota, a reused key, a bad page token) as 4xx problems, a busy or failing store as
//! 503 or 500, never blamed on the client. One table for every handler.

use crate::problem::{Kind, Problem};
use sbx_store::StoreError;

/// The answer to a store error.
pub fn problem(err: StoreError) -> Problem {
    match err {
        StoreError::NotFound { id } => Problem::not_found(format!("sandbox {id} not found")),
        StoreError::Conflict(refused) => Problem::transition(refused.to_string(), refused.current),
        StoreError::NotExtendable { ref state, .. } => Problem::transition(err.to_string(), *state),
        StoreError::QuotaExceeded { limit } => Problem::new(
            Kind::QuotaExceeded,
            format!("the tenant already has {limit} live sandboxes, its quota; delete one first"),
        ),
        StoreError::IdempotencyKeyReused => Problem::new(
            Kind::IdempotencyKeyReused,
            "Idempotency-Key: already used for a request with another body",
        ),
        StoreError::InvalidPageToken => {
            Problem::invalid("next_token: not a token this list issued for this query")
        }
        StoreError::AccountNotFound { account_id } => {
            Problem::not_found(format!("account {account_id} not found"))
        }
        StoreError::WebhookNotFound { id } => Problem::not_found(format!("webhook {id} not found")),
        StoreError::DeliveryNotFound { id } => Problem::not_found(format!("delivery {id} not found")),
        StoreError::DeliveryPending { id } => Problem::new(
            Kind::InvalidTransition,
            format!("delivery {id} is still being attempted; redeliver it once it is delivered or failed"),
        ),
        StoreError::TooManyWebhooks { limit } => Problem::new(
            Kind::QuotaExceeded,
            format!("the tenant already has {limit} webhooks; remove one first"),
        ),
        err if err.is_transient() => Problem::internal(Kind::Unavailable, "the store is busy", &err),
        err => Problem::internal(Kind::Internal, "the store failed", &err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_lifecycle::{Operation, State};

    #[test]
    fn store_errors_become_client_problems() {
        let refused = sbx_lifecycle::Refused {
            operation: Operation::Stop,
            current: State::Stopped,
        };
        let p = problem(StoreError::Conflict(refused));
        assert_eq!(
            (p.status, p.kind, p.state),
            (409, "invalid-transition", Some(State::Stopped))
        );
        let p = problem(StoreError::QuotaExceeded { limit: 5 });
        assert_eq!((p.status, p.kind), (409, "quota-exceeded"));
        assert_eq!(problem(StoreError::InvalidPageToken).status, 400);
        assert_eq!(problem(StoreError::NotFound { id: "x".into() }).status, 404);
        assert_eq!(problem(StoreError::IdempotencyKeyReused).status, 422);
        let p = problem(StoreError::Contended {
            operation: "create",
            attempts: 8,
        });
        assert_eq!(p.status, 503);
    }
}
