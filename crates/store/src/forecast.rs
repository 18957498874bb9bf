//! The budget test a start must pass, wherever it comes from (a user's create or start through
//! the API, a schedule's autostart): this month's spend plus what the tenant's live sandboxes
//! will cost until their expiry or the month's end, with the sandbox started, against the
//! tenant's monthly budget (`docs/spend.md`).

use crate::{ListQuery, SandboxStore, SpendStore, StoreError};
use chrono::{DateTime, Utc};
use sbx_lifecycle::cost::{self, Planned, PriceError, Pricing, Usd};
use sbx_lifecycle::{Sandbox, State};

/// What the test found, in dollars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub month: String,
    pub budget_usd: Usd,
    pub spent_usd: Usd,
    /// The spend and the estimate of the tenant's sandboxes, with this one, to the month's end.
    pub forecast_usd: Usd,
}

/// Whether starting a sandbox keeps its tenant within budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Within budget, or the tenant has none.
    Within,
    /// It would take the tenant past its budget this month.
    Over(Figures),
}

#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the price table: {0}")]
    Price(#[from] PriceError),
}

/// Every live sandbox of `tenant`, page by page (a tenant has at most its quota).
async fn live(store: &impl SandboxStore, tenant: &str) -> Result<Vec<Sandbox>, StoreError> {
    let mut all = Vec::new();
    let mut next_token = None;
    loop {
        let page = store
            .list(
                tenant,
                &ListQuery {
                    state: None,
                    limit: ListQuery::MAX_LIMIT,
                    next_token,
                },
            )
            .await?;
        all.extend(page.items.into_iter().filter(|s| s.state.is_live()));
        match page.next_token {
            Some(token) => next_token = Some(token),
            None => return Ok(all),
        }
    }
}

/// This month's spend, and the spend plus what `tenant`'s live sandboxes will cost to their
/// expiry or the month's end, with `change` (a sandbox created or started) started.
pub async fn forecast(
    store: &(impl SandboxStore + SpendStore),
    pricing: &Pricing,
    tenant: &str,
    change: Option<&Sandbox>,
    now: DateTime<Utc>,
) -> Result<(Usd, Usd), ForecastError> {
    let spent = store.month_spend(tenant, &cost::month_of(now)).await?.spent;
    let mut sandboxes = live(store, tenant).await?;
    sandboxes.retain(|s| change.is_none_or(|c| c.id != s.id));
    let planned: Vec<Planned<'_>> = sandboxes
        .iter()
        .map(|s| Planned {
            options: &s.options,
            state: s.state,
            expires_at: s.expires_at,
        })
        .chain(change.map(|c| Planned {
            options: &c.options,
            state: State::Started,
            expires_at: c.expires_at,
        }))
        .collect();
    let ahead = cost::month_forecast(&pricing.prices, &pricing.shared, &planned, now)?;
    Ok((spent, Usd(spent.0 + ahead)))
}

/// The budget test of starting `change` at `now`.
pub async fn verdict(
    store: &(impl SandboxStore + SpendStore),
    pricing: &Pricing,
    change: &Sandbox,
    now: DateTime<Utc>,
) -> Result<Verdict, ForecastError> {
    let Some(budget) = store.budget(&change.tenant).await? else {
        return Ok(Verdict::Within);
    };
    let (spent, forecast) = forecast(store, pricing, &change.tenant, Some(change), now).await?;
    if forecast <= budget.monthly_usd {
        return Ok(Verdict::Within);
    }
    Ok(Verdict::Over(Figures {
        month: cost::month_of(now),
        budget_usd: budget.monthly_usd,
        spent_usd: spent,
        forecast_usd: forecast,
    }))
}
