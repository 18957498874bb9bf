//! What a tenant is told: `sbx webhooks ...` (its endpoints, their secrets and deliveries) and
//! `sbx notifications` (when expiry warnings come).

use crate::Global;
use crate::api::{Api, CliError, own_tenant, pages, with_tenant};
use crate::duration::duration_of;
use crate::output;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

#[derive(Debug, Clone, Subcommand)]
pub enum Webhooks {
    /// Register an endpoint; its secret is printed once.
    #[command(after_help = "Examples:
  sbx webhooks add https://hooks.example.com/sbx
  sbx webhooks add https://hooks.example.com/sbx --event sandbox.started --event sandbox.failed")]
    Add {
        url: String,
        /// An event type to receive (repeat it); none: every type.
        #[arg(long = "event", value_name = "TYPE")]
        events: Vec<String>,
        #[arg(long, value_name = "TEXT", default_value = "")]
        description: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// List the endpoints.
    #[command(after_help = "Example:\n  sbx webhooks ls")]
    Ls {
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Remove an endpoint.
    #[command(after_help = "Example:\n  sbx webhooks rm wh_0123456789ab")]
    Rm {
        id: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Make a new secret (printed once); the old one signs beside it for 24 hours.
    #[command(after_help = "Example:\n  sbx webhooks rotate wh_0123456789ab")]
    Rotate {
        id: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Let a disabled endpoint (every delivery failed for 5 days) receive events again.
    #[command(after_help = "Example:\n  sbx webhooks enable wh_0123456789ab")]
    Enable {
        id: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// An endpoint's delivery log, every page.
    #[command(after_help = "Example:\n  sbx webhooks deliveries wh_0123456789ab")]
    Deliveries {
        id: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Attempt a delivered or failed delivery again (or a pending one whose execution is gone).
    #[command(after_help = "Example:\n  sbx webhooks redeliver wh_0123456789ab sb-1a2b3c4d5e6f.2.0")]
    Redeliver {
        id: String,
        delivery: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
}

pub async fn webhooks(global: &Global, command: Webhooks) -> Result<String, CliError> {
    let format = global.output;
    let mut api = Api::open(global.api_url.clone())?;
    match command {
        Webhooks::Add {
            url,
            events,
            description,
            tenant,
        } => {
            let body = json!({"url": url, "events": events, "description": description});
            let path = with_tenant("/webhooks".to_owned(), tenant.as_deref());
            let endpoint = api.send(Method::POST, &path, Some(&body), None).await?;
            Ok(output::record(format, &endpoint))
        }
        Webhooks::Ls { tenant } => {
            let list = api
                .get(&with_tenant("/webhooks".to_owned(), tenant.as_deref()))
                .await?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            Ok(output::list(format, &items, output::WEBHOOK_COLUMNS))
        }
        Webhooks::Rm { id, tenant } => {
            let path = with_tenant(format!("/webhooks/{id}"), tenant.as_deref());
            api.send(Method::DELETE, &path, None, None).await?;
            Ok(format!("removed {id}"))
        }
        Webhooks::Rotate { id, tenant } => {
            let path = with_tenant(format!("/webhooks/{id}/rotate"), tenant.as_deref());
            let endpoint = api.send(Method::POST, &path, None, None).await?;
            Ok(output::record(format, &endpoint))
        }
        Webhooks::Enable { id, tenant } => {
            let path = with_tenant(format!("/webhooks/{id}/enable"), tenant.as_deref());
            let endpoint = api.send(Method::POST, &path, None, None).await?;
            Ok(output::record(format, &endpoint))
        }
        Webhooks::Deliveries { id, tenant } => {
            let path = with_tenant(format!("/webhooks/{id}/deliveries"), tenant.as_deref());
            let items = pages(&mut api, &path).await?;
            Ok(output::list(format, &items, output::DELIVERY_COLUMNS))
        }
        Webhooks::Redeliver { id, delivery, tenant } => {
            let path = with_tenant(format!("/webhooks/{id}/redeliver"), tenant.as_deref());
            let body = json!({"delivery": delivery});
            let delivery = api.send(Method::POST, &path, Some(&body), None).await?;
            Ok(output::record(format, &delivery))
        }
    }
}

/// Shows the tenant's expiry warnings, or sets them (`no_expiry_warnings`: none).
pub async fn expiry_warnings(
    global: &Global,
    expiry_warnings: Vec<String>,
    no_expiry_warnings: bool,
    tenant: Option<String>,
) -> Result<String, CliError> {
    let format = global.output;
    let mut api = Api::open(global.api_url.clone())?;
    let tenant = match tenant {
        Some(tenant) => tenant,
        // A member's own: the tenant of any of its webhooks or sandboxes is not needed,
        // the token's user has one; ask the API through a list.
        None => own_tenant(&mut api).await?,
    };
    let path = format!("/tenants/{tenant}/notifications");
    let record = if no_expiry_warnings || !expiry_warnings.is_empty() {
        let mut seconds = Vec::new();
        for text in &expiry_warnings {
            seconds.push(duration_of("--expiry-warnings", text)?.num_seconds());
        }
        let body = json!({"expiry_warnings": seconds});
        api.send(Method::PUT, &path, Some(&body), None).await?
    } else {
        api.get(&path).await?
    };
    Ok(output::record(format, &record))
}
