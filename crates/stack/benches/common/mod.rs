//! What the scale benchmarks share: writing many sandbox records straight into the local
//! stack's table.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use sbx_stack::LocalStack;
use std::collections::HashMap;

/// Puts `items` into the sandboxes table, 25 a call, until none is left unprocessed.
pub async fn put_records(stack: &LocalStack, items: &[HashMap<String, AttributeValue>]) {
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.config);
    for chunk in items.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item.clone())).build();
                WriteRequest::builder()
                    .put_request(put.unwrap_or_else(|e| panic!("{e}")))
                    .build()
            })
            .collect();
        while !pending.is_empty() {
            let written = dynamo
                .batch_write_item()
                .request_items(&stack.tables.sandboxes, pending.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("BatchWriteItem: {e:?}"));
            pending = written
                .unprocessed_items()
                .and_then(|left| left.get(&stack.tables.sandboxes))
                .cloned()
                .unwrap_or_default();
        }
    }
}
