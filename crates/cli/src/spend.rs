//! `sbx cost` and `sbx budget ...`: what sandboxes cost, and a tenant's monthly budget.

use crate::Global;
use crate::api::{Api, CliError, own_tenant, with_tenant};
use crate::output;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Subcommand)]
pub enum Budget {
    /// The budget, this month's spend and forecast, and where the prices come from.
    #[command(after_help = "Examples:\n  sbx budget get\n  sbx budget get --tenant acme")]
    Get {
        /// The tenant (admins); your own by default.
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Set a tenant's monthly budget (admins).
    #[command(after_help = "Examples:
  sbx budget set --tenant acme --monthly 500
  sbx budget set --tenant acme --monthly 500 --cap 60 --thresholds 50,90,100 --no-stop")]
    Set {
        #[arg(long, value_name = "T")]
        tenant: String,
        /// Dollars per calendar month (UTC).
        #[arg(long, value_name = "USD")]
        monthly: f64,
        /// Dollars one sandbox may cost in all; at it the sandbox is stopped.
        #[arg(long, value_name = "USD")]
        cap: Option<f64>,
        /// Percentages of the budget at which an event is recorded (default 50,80,100).
        #[arg(long, value_name = "PERCENTS", value_delimiter = ',')]
        thresholds: Vec<u32>,
        /// Do not stop the running sandboxes when the month reaches the budget.
        #[arg(long)]
        no_stop: bool,
    },
}

/// A sandbox's cost as one flat row.
fn cost_row(record: &Value) -> Value {
    let cost = &record["cost"];
    json!({
        "id": record["id"],
        "name": record["name"],
        "state": record["state"],
        "estimated_usd": cost["estimated_usd"],
        "rate_usd_per_hour": cost["rate_usd_per_hour"],
        "since": cost["since"],
        "as_of": cost["as_of"],
    })
}

const COST_COLUMNS: output::Columns = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("STATE", "state"),
    ("USD", "estimated_usd"),
    ("USD/H", "rate_usd_per_hour"),
    ("AS OF", "as_of"),
];

pub async fn cost(global: &Global, id: Option<String>, tenant: Option<String>) -> Result<String, CliError> {
    let format = global.output;
    let mut api = Api::open(global.api_url.clone())?;
    if let Some(id) = id {
        let record = api
            .get(&with_tenant(format!("/sandboxes/{id}"), tenant.as_deref()))
            .await?;
        return Ok(output::record(format, &cost_row(&record)));
    }
    let named = tenant.clone();
    let tenant = match tenant {
        Some(tenant) => tenant,
        None => own_tenant(&mut api).await?,
    };
    let mut rows = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = with_tenant("/sandboxes?limit=100".to_owned(), named.as_deref());
        if let Some(token) = &next {
            path.push_str(&format!("&next_token={token}"));
        }
        let page = api.get(&path).await?;
        rows.extend(page["items"].as_array().into_iter().flatten().map(cost_row));
        match page["next_token"].as_str() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
    }
    let budget = api.get(&format!("/tenants/{tenant}/budget")).await?;
    Ok(match format {
        output::Format::Table => format!(
            "{}\n\n{}",
            output::list(format, &rows, COST_COLUMNS),
            budget_summary(&budget)
        ),
        _ => {
            let mut all = budget.clone();
            all["items"] = Value::Array(rows);
            output::record(format, &all)
        }
    })
}

/// The month against the budget, in a sentence or two.
fn budget_summary(view: &Value) -> String {
    let dollars = |v: &Value| format!("${:.2}", v.as_f64().unwrap_or_default());
    let month = view["month"].as_str().unwrap_or_default();
    let spent = dollars(&view["spent_usd"]);
    let forecast = dollars(&view["forecast_usd"]);
    let head = match view["budget"]["monthly_usd"].as_f64() {
        Some(limit) => {
            let percent = view["spent_usd"].as_f64().unwrap_or_default() * 100.0 / limit;
            format!(
                "{month}: {spent} of a ${limit:.2} budget ({percent:.0}%); forecast {forecast} by the month's end or the sandboxes' expiry"
            )
        }
        None => format!("{month}: {spent}, no budget; forecast {forecast}"),
    };
    format!(
        "{head}\nprices: {} as of {} ({})",
        view["prices"]["region"].as_str().unwrap_or_default(),
        view["prices"]["as_of"].as_str().unwrap_or_default(),
        view["prices"]["source"].as_str().unwrap_or_default(),
    )
}

pub async fn budget(global: &Global, command: Budget) -> Result<String, CliError> {
    let format = global.output;
    let mut api = Api::open(global.api_url.clone())?;
    let view = match command {
        Budget::Get { tenant } => {
            let tenant = match tenant {
                Some(tenant) => tenant,
                None => own_tenant(&mut api).await?,
            };
            api.get(&format!("/tenants/{tenant}/budget")).await?
        }
        Budget::Set {
            tenant,
            monthly,
            cap,
            thresholds,
            no_stop,
        } => {
            let mut body = json!({"monthly_usd": monthly, "stop_at_limit": !no_stop});
            if let Some(cap) = cap {
                body["sandbox_cap_usd"] = json!(cap);
            }
            if !thresholds.is_empty() {
                body["thresholds"] = json!(thresholds);
            }
            api.send(
                Method::PUT,
                &format!("/tenants/{tenant}/budget"),
                Some(&body),
                None,
            )
            .await?
        }
    };
    Ok(match format {
        output::Format::Table => {
            let budget = &view["budget"];
            let mut lines = vec![format!(
                "tenant     {}",
                view["tenant"].as_str().unwrap_or_default()
            )];
            if budget.is_object() {
                lines.push(format!(
                    "monthly    ${:.2}",
                    budget["monthly_usd"].as_f64().unwrap_or_default()
                ));
                if let Some(cap) = budget["sandbox_cap_usd"].as_f64() {
                    lines.push(format!("cap        ${cap:.2} per sandbox"));
                }
                lines.push(format!("thresholds {}", budget["thresholds"]));
                lines.push(format!("stop       {}", budget["stop_at_limit"]));
            }
            lines.push(format!("warned     {}", view["warned"]));
            lines.push(budget_summary(&view));
            lines.join("\n")
        }
        _ => output::record(format, &view),
    })
}
