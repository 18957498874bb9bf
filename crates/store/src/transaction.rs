//! A DynamoDB transaction whose items are named by what they guard, so that a cancellation is
//! read by name ("the quota counter refused") rather than by position in the request.

use crate::client::DynamoStore;
use crate::error::StoreError;
use crate::item::s;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};

/// The attribute of a record that carries the token of the transaction that wrote it last, so
/// that a transaction whose answer was lost is recognised as applied ([`DynamoStore::wrote`]).
pub(crate) const WRITE_TOKEN: &str = "write_token";

/// What an item of a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// The sandbox record, compared on its state and version.
    Record,
    /// The record's audit event, one per version.
    Event,
    /// The tenant's live-sandbox counter, refused at the quota.
    QuotaCounter,
    /// A create's idempotency key, refused while an earlier create holds it.
    IdempotencyKey,
    /// An account of the pool, compared on its state.
    Account,
    /// The tenant's one account assignment.
    Assignment,
    /// A tenant's budget or what it spent in a month.
    Spend,
    /// A webhook endpoint, compared on whether it is disabled.
    Endpoint,
}

/// The items of one transaction, each with its part, and the token it is written under: its
/// `ClientRequestToken`, which the record it changes also carries (`write_token`), so that a
/// transaction whose answer was lost can be recognised as applied.
#[derive(Debug)]
pub(crate) struct Transaction {
    parts: Vec<Part>,
    items: Vec<TransactWriteItem>,
    token: String,
}

impl Default for Transaction {
    fn default() -> Self {
        Self {
            parts: Vec::new(),
            items: Vec::new(),
            token: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
        }
    }
}

impl Transaction {
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    pub(crate) fn with(mut self, part: Part, item: TransactWriteItem) -> Self {
        self.push(part, item);
        self
    }

    pub(crate) fn push(&mut self, part: Part, item: TransactWriteItem) {
        self.parts.push(part);
        self.items.push(item);
    }

    /// The request's items, the parts to read its cancellation by, and its token.
    pub(crate) fn into_parts(self) -> (Vec<Part>, Vec<TransactWriteItem>, String) {
        (self.parts, self.items, self.token)
    }
}

/// Why a transaction was cancelled: a reason per item, in the order of its parts.
#[derive(Debug, Clone)]
pub(crate) struct Cancelled {
    pub(crate) parts: Vec<Part>,
    pub(crate) reasons: Vec<CancellationReason>,
}

impl Cancelled {
    /// Whether the item that is `part` failed its condition.
    pub(crate) fn refused(&self, part: Part) -> bool {
        self.parts
            .iter()
            .zip(&self.reasons)
            .any(|(p, reason)| *p == part && reason.code() == Some("ConditionalCheckFailed"))
    }

    /// Whether the transaction lost to a concurrent one rather than to a condition.
    pub(crate) fn contended(&self) -> bool {
        self.reasons
            .iter()
            .any(|reason| matches!(reason.code(), Some("TransactionConflict" | "ThrottlingError")))
    }
}

/// A transaction that did not apply: why each of its items was refused, or another error.
pub(crate) enum TxError {
    Cancelled(Cancelled),
    Failed(StoreError),
}

impl DynamoStore {
    /// Whether the record carries `token`: the transaction written under it was applied
    /// (its answer lost, and the SDK's repeat refused by the conditions it had made false).
    pub(crate) async fn wrote(&self, tenant: &str, id: &str, token: &str) -> Result<bool, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(self.config.tables.sandboxes()?)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .projection_expression("#token")
            .expression_attribute_names("#token", WRITE_TOKEN)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        Ok(found
            .item
            .and_then(|mut item| item.remove(WRITE_TOKEN))
            .is_some_and(|value| value.as_s().is_ok_and(|v| v == token)))
    }

    /// Writes the transaction under a token of its own, so that the SDK's repeat of a
    /// transaction that committed (its answer lost) is answered with success, not cancelled
    /// by conditions that its own first try made false.
    pub(crate) async fn transact(&self, transaction: Transaction) -> Result<(), TxError> {
        let (parts, items, token) = transaction.into_parts();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    Err(TxError::Cancelled(Cancelled {
                        parts,
                        reasons: cancelled.cancellation_reasons().to_vec(),
                    }))
                }
                _ => Err(TxError::Failed(StoreError::aws("TransactWriteItems", err))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    #[test]
    fn a_refusal_is_read_by_the_part_that_refused() {
        let cancelled = Cancelled {
            parts: vec![Part::Record, Part::Event, Part::QuotaCounter],
            reasons: vec![reason("None"), reason("None"), reason("ConditionalCheckFailed")],
        };
        assert!(cancelled.refused(Part::QuotaCounter));
        assert!(!cancelled.refused(Part::Record));
        assert!(
            !cancelled.refused(Part::IdempotencyKey),
            "a part the transaction lacks"
        );
        assert!(!cancelled.contended());
        let raced = Cancelled {
            parts: vec![Part::Record, Part::Event],
            reasons: vec![reason("TransactionConflict"), reason("None")],
        };
        assert!(raced.contended());
    }
}
