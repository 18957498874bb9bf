//! Budgets (SPEC: Spend): `GET|PUT /tenants/{id}/budget`, served by `api-accounts`, and the
//! check a create or start passes first: refused with `budget-exceeded`, naming the figures,
//! when this month's spend and the estimate of the tenant's live sandboxes to their expiry (or
//! the month's end) would pass the budget.

use crate::caller::Caller;
use crate::input;
use crate::problem::{BudgetFigures, Kind, Problem, json};
use crate::store_errors::problem;
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use sbx_lifecycle::Sandbox;
use sbx_lifecycle::cost::{self, Pricing, Usd};
use sbx_store::forecast::{self, ForecastError, Verdict};
use sbx_store::{Budget, BudgetEvent, Drift, DriftStore, SandboxStore, SpendStore};
use serde::{Deserialize, Serialize};

/// The most a monthly budget or a cap may be, in dollars.
const MAX_USD: f64 = 10_000_000.0;
/// At most this many thresholds, each a percentage from 1 to 200.
const MAX_THRESHOLDS: usize = 10;
const THRESHOLD_PERCENT: std::ops::RangeInclusive<u32> = 1..=200;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetBody {
    pub monthly_usd: f64,
    /// `null` or left out: no cap.
    #[serde(default)]
    pub sandbox_cap_usd: Option<f64>,
    #[serde(default = "Budget::default_thresholds")]
    pub thresholds: Vec<u32>,
    #[serde(default = "stop_by_default")]
    pub stop_at_limit: bool,
}

fn stop_by_default() -> bool {
    true
}

/// The least a budget or a cap may be: a cent.
const MIN_USD: f64 = 0.01;

fn dollars(name: &str, value: f64) -> Result<Usd, Problem> {
    if !value.is_finite() || !(MIN_USD..=MAX_USD).contains(&value) {
        return Err(Problem::invalid(format!(
            "{name}: dollars, from {MIN_USD} to {MAX_USD}, not {value}"
        )));
    }
    Ok(Usd(cost::micros(value)))
}

impl BudgetBody {
    /// The budget asked for, or what is wrong with it.
    pub fn budget(self) -> Result<Budget, Problem> {
        let mut thresholds = self.thresholds;
        if thresholds.len() > MAX_THRESHOLDS {
            return Err(Problem::invalid(format!("thresholds: at most {MAX_THRESHOLDS}")));
        }
        for (i, percent) in thresholds.iter().enumerate() {
            if !THRESHOLD_PERCENT.contains(percent) {
                return Err(Problem::invalid(format!(
                    "thresholds[{i}]: a percentage of the budget, 1 to 200, not {percent}"
                )));
            }
        }
        thresholds.sort_unstable();
        thresholds.dedup();
        Ok(Budget {
            monthly_usd: dollars("monthly_usd", self.monthly_usd)?,
            sandbox_cap_usd: self
                .sandbox_cap_usd
                .map(|cap| dollars("sandbox_cap_usd", cap))
                .transpose()?,
            thresholds,
            stop_at_limit: self.stop_at_limit,
        })
    }
}

/// A tenant's budget and where its month stands.
#[derive(Debug, Serialize)]
pub struct BudgetView {
    pub tenant: String,
    /// `None` when no budget is set: nothing is refused or stopped for spend.
    pub budget: Option<Budget>,
    pub month: String,
    /// What the tenant's sandboxes cost this month so far (to the last meter run).
    pub spent_usd: Usd,
    /// The spend and the estimate of its live sandboxes to their expiry or the month's end.
    pub forecast_usd: Usd,
    /// The thresholds reached this month.
    pub warned: Vec<u32>,
    pub prices: PriceSource,
    /// The month's estimates against Cost Explorer, as of the last daily check (deployments
    /// that read it).
    pub drift: Option<Drift>,
}

/// Where the estimate's prices come from.
#[derive(Debug, Serialize)]
pub struct PriceSource {
    pub as_of: String,
    pub region: String,
    pub source: String,
}

impl PriceSource {
    pub fn of(pricing: &Pricing) -> Self {
        Self {
            as_of: pricing.prices.as_of.clone(),
            region: pricing.prices.region.clone(),
            source: pricing.prices.source.clone(),
        }
    }
}

/// The forecast's errors as problems: the store's as the store's, a missing price as ours.
fn forecast_problem(err: ForecastError) -> Problem {
    match err {
        ForecastError::Store(err) => problem(err),
        ForecastError::Price(err) => Problem::internal(Kind::Internal, "the price table", &err),
    }
}

/// Refuses `change` (a create or a start) when the estimate says it would take the tenant past
/// its budget this month (`sbx_store::forecast`, the test a schedule's start passes too).
pub async fn check(
    store: &(impl SandboxStore + SpendStore),
    pricing: &Pricing,
    change: &Sandbox,
    now: DateTime<Utc>,
) -> Result<(), Problem> {
    let Verdict::Over(figures) = forecast::verdict(store, pricing, change, now)
        .await
        .map_err(forecast_problem)?
    else {
        return Ok(());
    };
    Err(Problem::budget_exceeded(
        format!(
            "tenant {} has spent {} of its {} budget for {}; with this sandbox running until {}, its sandboxes would cost an estimated {} this month",
            change.tenant,
            figures.spent_usd,
            figures.budget_usd,
            figures.month,
            change
                .expires_at
                .min(cost::month_end(now))
                .format("%Y-%m-%d %H:%M UTC"),
            figures.forecast_usd,
        ),
        BudgetFigures {
            month: figures.month,
            budget_usd: figures.budget_usd,
            spent_usd: figures.spent_usd,
            forecast_usd: figures.forecast_usd,
        },
    ))
}

/// `GET|PUT /tenants/{id}/budget`: members read their own tenant's, admins any and set them.
pub async fn handle(
    store: &(impl SandboxStore + SpendStore + DriftStore),
    pricing: &Pricing,
    caller: &Caller,
    request: &Request,
    set: bool,
) -> Result<Response<Body>, Problem> {
    input::query(request, &[])?;
    let tenant = caller.tenant_in_path(request, "a member reads only their own tenant's budget")?;
    if set {
        caller.require_admin()?;
    }
    let now = Utc::now();
    let budget = if set {
        let body: BudgetBody = input::json_body(request)?;
        let budget = body.budget()?;
        let event = BudgetEvent::updated(&tenant, &budget, &caller.username, now);
        store
            .put_budget(&tenant, &budget, &event)
            .await
            .map_err(problem)?;
        Some(budget)
    } else {
        store.budget(&tenant).await.map_err(problem)?
    };
    let month = cost::month_of(now);
    let spend = store.month_spend(&tenant, &month).await.map_err(problem)?;
    let (_, forecast_usd) = forecast::forecast(store, pricing, &tenant, None, now)
        .await
        .map_err(forecast_problem)?;
    let drift = store.drift(&tenant, &month).await.map_err(problem)?;
    Ok(json(
        StatusCode::OK,
        &BudgetView {
            tenant,
            budget,
            month,
            spent_usd: spend.spent,
            forecast_usd,
            warned: spend.warned,
            prices: PriceSource::of(pricing),
            drift,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Result<Budget, Problem> {
        serde_json::from_str::<BudgetBody>(json)
            .map_err(|e| Problem::invalid(e.to_string()))
            .and_then(BudgetBody::budget)
    }

    #[test]
    fn a_budget_is_dollars_with_thresholds_in_order() {
        let budget = body(r#"{"monthly_usd": 250, "sandbox_cap_usd": 40.5, "thresholds": [100, 50, 50]}"#)
            .unwrap_or_else(|p| panic!("{}", p.detail));
        assert_eq!(budget.monthly_usd, Usd(250_000_000));
        assert_eq!(budget.sandbox_cap_usd, Some(Usd(40_500_000)));
        assert_eq!(budget.thresholds, [50, 100]);
        assert!(budget.stop_at_limit);
        let plain = body(r#"{"monthly_usd": 1}"#).unwrap_or_else(|p| panic!("{}", p.detail));
        assert_eq!(plain.thresholds, [50, 80, 100]);
    }

    #[test]
    fn a_bad_budget_says_what_is_wrong() {
        for (json, wanted) in [
            (r#"{"monthly_usd": 0}"#, "monthly_usd"),
            (r#"{"monthly_usd": -5}"#, "monthly_usd"),
            (r#"{"monthly_usd": 1e12}"#, "monthly_usd"),
            (r#"{"monthly_usd": 5, "sandbox_cap_usd": 0}"#, "sandbox_cap_usd"),
            (r#"{"monthly_usd": 5e-324}"#, "monthly_usd"),
            (
                r#"{"monthly_usd": 5, "stop_at_limit": null}"#,
                "invalid type: null",
            ),
            (r#"{"monthly_usd": 5, "thresholds": null}"#, "invalid type: null"),
            (r#"{"monthly_usd": 5, "thresholds": [0]}"#, "thresholds[0]"),
            (r#"{"monthly_usd": 5, "thresholds": [50, 300]}"#, "thresholds[1]"),
        ] {
            let refused = body(json).err().map(|p| p.detail).unwrap_or_default();
            assert!(refused.starts_with(wanted), "{json}: {refused}");
        }
    }
}
