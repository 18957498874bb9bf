//! `sbx accounts ...`: the account pool (admins).

use crate::Global;
use crate::api::{Api, CliError, pages};
use crate::output;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

#[derive(Debug, Clone, Subcommand)]
pub enum Accounts {
    /// List accounts, every page.
    #[command(after_help = "Examples:\n  sbx accounts ls\n  sbx accounts ls --state quarantined")]
    Ls {
        #[arg(long, value_name = "S")]
        state: Option<String>,
    },
    /// Show one account.
    #[command(after_help = "Example:\n  sbx accounts get 123456789012")]
    Get { id: String },
    /// Add an account to the pool (a known one is left as it is).
    #[command(after_help = "Example:\n  sbx accounts add 123456789012")]
    Add { id: String },
    /// An account's trail.
    #[command(after_help = "Example:\n  sbx accounts events 123456789012")]
    Events { id: String },
    /// Send a quarantined account to be cleaned again.
    #[command(after_help = "Example:\n  sbx accounts clean 123456789012")]
    Clean { id: String },
}

pub async fn run(global: &Global, command: Accounts) -> Result<String, CliError> {
    let format = global.output;
    let mut api = Api::open(global.api_url.clone())?;
    match command {
        Accounts::Ls { state } => {
            let path = match state {
                Some(state) => format!("/accounts?state={state}"),
                None => "/accounts".to_owned(),
            };
            let items = pages(&mut api, &path).await?;
            Ok(output::list(format, &items, output::ACCOUNT_COLUMNS))
        }
        Accounts::Get { id } => Ok(output::record(
            format,
            &api.get(&format!("/accounts/{id}")).await?,
        )),
        Accounts::Add { id } => {
            let body = json!({"account_id": id});
            let account = api.send(Method::POST, "/accounts", Some(&body), None).await?;
            Ok(output::record(format, &account))
        }
        Accounts::Events { id } => {
            let events = api.get(&format!("/accounts/{id}/events")).await?;
            let items = events["items"].as_array().cloned().unwrap_or_default();
            Ok(output::list(format, &items, output::ACCOUNT_EVENT_COLUMNS))
        }
        Accounts::Clean { id } => {
            let account = api
                .send(Method::POST, &format!("/accounts/{id}/clean"), None, None)
                .await?;
            Ok(output::record(format, &account))
        }
    }
}
