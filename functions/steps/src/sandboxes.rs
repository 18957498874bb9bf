//! Reading a tenant's sandboxes page by page (a Query on the tenant's key).

use crate::error::StepError;
use sbx_lifecycle::Sandbox;
use sbx_store::{ListQuery, SandboxStore};

/// Every sandbox of the tenant that is not deleted.
pub async fn live(store: &impl SandboxStore, tenant: &str) -> Result<Vec<Sandbox>, StepError> {
    let mut sandboxes = Vec::new();
    let mut query = ListQuery {
        limit: ListQuery::MAX_LIMIT,
        ..ListQuery::default()
    };
    loop {
        let page = store.list(tenant, &query).await?;
        sandboxes.extend(page.items.into_iter().filter(|s| s.state.is_live()));
        match page.next_token {
            Some(token) => query.next_token = Some(token),
            None => return Ok(sandboxes),
        }
    }
}
