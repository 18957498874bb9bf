//! The sandbox commands: `sbx create | ls | get | start | stop | rm | extend | open | events |
//! schedule`, each a request to the API, and `--wait` to follow an operation to its end.

use crate::Global;
use crate::api::{Api, CliError, pages, with_tenant};
use crate::duration::{duration, duration_of};
use crate::output::{self, Format};
use crate::wait;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

#[derive(Debug, Clone, Subcommand)]
pub enum Sandboxes {
    /// Create a sandbox; with --wait, follow it until it is started (or failed).
    #[command(
        after_help = "Examples:\n  sbx create demo --wait\n  sbx create payments --amq --constellation payments --ttl 48 -o json"
    )]
    Create {
        name: String,
        /// Layer-4 ingress (AMQ on the NLB).
        #[arg(long)]
        amq: bool,
        /// The desktop-streaming fleet (Smart Client).
        #[arg(long)]
        smart_client: bool,
        /// A constellation to install (repeat for more).
        #[arg(long = "constellation", value_name = "C")]
        constellations: Vec<String>,
        /// Hours until it expires (default: the API's).
        #[arg(long, value_name = "HOURS")]
        ttl: Option<u32>,
        /// Follow the create until it ends.
        #[arg(long)]
        wait: bool,
    },
    /// List sandboxes, every page of them.
    #[command(
        after_help = "Examples:\n  sbx ls\n  sbx ls --state started -o json | jq -r '.items[].id'\n  sbx ls --tenant acme   # admins"
    )]
    Ls {
        #[arg(long, value_name = "S")]
        state: Option<String>,
        /// Admins: every tenant with an account.
        #[arg(long, conflicts_with = "tenant")]
        all_tenants: bool,
        /// Admins: this tenant's sandboxes.
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Show one sandbox.
    #[command(after_help = "Example:\n  sbx get sb-1a2b3c4d5e6f")]
    Get {
        id: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Start a stopped sandbox.
    #[command(after_help = "Example:\n  sbx start sb-1a2b3c4d5e6f --wait")]
    Start(Operate),
    /// Stop a started sandbox.
    #[command(after_help = "Example:\n  sbx stop sb-1a2b3c4d5e6f --wait")]
    Stop(Operate),
    /// Delete a sandbox.
    #[command(after_help = "Example:\n  sbx rm sb-1a2b3c4d5e6f --wait")]
    Rm(Operate),
    /// Move a sandbox's expiry: to a time, or by a duration from its current expiry.
    #[command(
        after_help = "Examples:\n  sbx extend sb-1a2b3c4d5e6f --by 24h\n  sbx extend sb-1a2b3c4d5e6f --until 2026-12-24T18:00:00Z"
    )]
    Extend {
        id: String,
        #[arg(
            long,
            value_name = "TIME",
            conflicts_with = "by",
            required_unless_present = "by"
        )]
        until: Option<String>,
        /// `30m`, `12h`, `2d`.
        #[arg(long, value_name = "DURATION")]
        by: Option<String>,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Open a started sandbox's ACP web application in a browser (its URL is printed too).
    #[command(after_help = "Example:\n  sbx open sb-1a2b3c4d5e6f")]
    Open {
        id: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// A sandbox's audit trail.
    #[command(after_help = "Example:\n  sbx events sb-1a2b3c4d5e6f")]
    Events {
        id: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Set when the sandbox stops and starts by itself (or `--clear` it).
    #[command(after_help = "Examples:
  sbx schedule sb-1a2b3c4d5e6f --stop 19:00 --start 07:30 --days mon,tue,wed,thu,fri --tz Europe/London
  sbx schedule sb-1a2b3c4d5e6f --idle 2h
  sbx schedule sb-1a2b3c4d5e6f --clear")]
    Schedule {
        id: String,
        /// Stop a started sandbox at this time of day (HH:MM).
        #[arg(long, value_name = "HH:MM")]
        stop: Option<String>,
        /// Start a stopped sandbox at this time of day (HH:MM).
        #[arg(long, value_name = "HH:MM")]
        start: Option<String>,
        /// The weekdays, comma-separated (mon,...,sun); every day when not given.
        #[arg(long, value_name = "DAYS", value_delimiter = ',')]
        days: Vec<String>,
        /// The IANA time zone of the times.
        #[arg(long, value_name = "ZONE", default_value = "UTC")]
        tz: String,
        /// The idle timeout (`90m`, `2h`).
        #[arg(long, value_name = "DURATION")]
        idle: Option<String>,
        /// Remove the schedule.
        #[arg(long, conflicts_with_all = ["stop", "start", "idle"])]
        clear: bool,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Operate {
    pub id: String,
    /// Follow the operation until it ends.
    #[arg(long)]
    pub wait: bool,
    #[arg(long, value_name = "T")]
    pub tenant: Option<String>,
}

pub async fn run(global: &Global, command: Sandboxes) -> Result<String, CliError> {
    let format = global.output;
    match command {
        Sandboxes::Create {
            name,
            amq,
            smart_client,
            constellations,
            ttl,
            wait,
        } => {
            let mut api = Api::open(global.api_url.clone())?;
            let mut body = json!({"name": name, "amq": amq, "smart_client": smart_client, "constellations": constellations});
            if let Some(ttl) = ttl {
                body["ttl_hours"] = json!(ttl);
            }
            // One key per create: repeats after a lost answer make one sandbox.
            let key = uuid::Uuid::new_v4().to_string();
            let created = api
                .send(Method::POST, "/sandboxes", Some(&body), Some(&key))
                .await?;
            finish(&mut api, format, created, wait, None).await
        }
        Sandboxes::Ls {
            state,
            all_tenants,
            tenant,
        } => {
            let mut api = Api::open(global.api_url.clone())?;
            let tenants = match (all_tenants, tenant) {
                (true, _) => tenants_with_accounts(&mut api)
                    .await?
                    .into_iter()
                    .map(Some)
                    .collect(),
                (false, tenant) => vec![tenant],
            };
            let mut items = Vec::new();
            for tenant in tenants {
                let mut path = "/sandboxes".to_owned();
                if let Some(state) = &state {
                    path = format!("{path}?state={state}");
                }
                items.extend(pages(&mut api, &with_tenant(path, tenant.as_deref())).await?);
            }
            Ok(output::list(format, &items, output::SANDBOX_COLUMNS))
        }
        Sandboxes::Get { id, tenant } => {
            let mut api = Api::open(global.api_url.clone())?;
            let record = api
                .get(&with_tenant(format!("/sandboxes/{id}"), tenant.as_deref()))
                .await?;
            Ok(output::record(format, &record))
        }
        Sandboxes::Start(op) => operate(global, "start", op).await,
        Sandboxes::Stop(op) => operate(global, "stop", op).await,
        Sandboxes::Rm(op) => operate(global, "delete", op).await,
        Sandboxes::Extend {
            id,
            until,
            by,
            tenant,
        } => {
            let mut api = Api::open(global.api_url.clone())?;
            let path = with_tenant(format!("/sandboxes/{id}"), tenant.as_deref());
            let expires_at = match (until, by) {
                (Some(until), _) => until,
                (None, Some(by)) => {
                    let span = duration(&by)?;
                    let current = api.get(&path).await?;
                    let at = current["expires_at"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .ok_or_else(|| CliError::Local("the record has no expires_at".into()))?;
                    (at + span).with_timezone(&chrono::Utc).to_rfc3339()
                }
                (None, None) => return Err(CliError::Usage("give --until TIME or --by DURATION".into())),
            };
            let record = api
                .send(
                    Method::PATCH,
                    &path,
                    Some(&json!({"expires_at": expires_at})),
                    None,
                )
                .await?;
            Ok(output::record(format, &record))
        }
        Sandboxes::Open { id, tenant } => {
            let mut api = Api::open(global.api_url.clone())?;
            let record = api
                .get(&with_tenant(format!("/sandboxes/{id}"), tenant.as_deref()))
                .await?;
            let Some(url) = record["endpoints"]["web"].as_str() else {
                return Err(CliError::Problem {
                    status: 409,
                    kind: "not-started".into(),
                    detail: format!(
                        "sandbox {id} is {}; only a started sandbox has endpoints",
                        record["state"].as_str().unwrap_or("unknown")
                    ),
                });
            };
            browse(url);
            Ok(url.to_owned())
        }
        Sandboxes::Events { id, tenant } => {
            let mut api = Api::open(global.api_url.clone())?;
            let events = api
                .get(&with_tenant(format!("/sandboxes/{id}/events"), tenant.as_deref()))
                .await?;
            let items = events["items"].as_array().cloned().unwrap_or_default();
            Ok(output::list(format, &items, output::EVENT_COLUMNS))
        }
        Sandboxes::Schedule {
            id,
            stop,
            start,
            days,
            tz,
            idle,
            clear,
            tenant,
        } => {
            let recurrence =
                |at: Option<String>| at.map(|at| json!({"at": at, "days": days, "time_zone": tz}));
            let mut body = serde_json::Map::new();
            if !clear {
                if stop.is_none() && start.is_none() && idle.is_none() {
                    return Err(CliError::Usage(
                        "give --stop, --start or --idle (or --clear)".into(),
                    ));
                }
                if let Some(stop) = recurrence(stop) {
                    body.insert("autostop".into(), stop);
                }
                if let Some(start) = recurrence(start) {
                    body.insert("autostart".into(), start);
                }
                if let Some(idle) = idle {
                    body.insert(
                        "idle_minutes".into(),
                        json!(duration_of("--idle", &idle)?.num_minutes()),
                    );
                }
            }
            let mut api = Api::open(global.api_url.clone())?;
            let path = with_tenant(format!("/sandboxes/{id}/schedule"), tenant.as_deref());
            let record = api
                .send(Method::PUT, &path, Some(&serde_json::Value::Object(body)), None)
                .await?;
            Ok(output::record(format, &record))
        }
    }
}

async fn operate(global: &Global, operation: &str, op: Operate) -> Result<String, CliError> {
    let mut api = Api::open(global.api_url.clone())?;
    let (method, path) = match operation {
        "delete" => (Method::DELETE, format!("/sandboxes/{}", op.id)),
        other => (Method::POST, format!("/sandboxes/{}/{other}", op.id)),
    };
    let record = api
        .send(method, &with_tenant(path, op.tenant.as_deref()), None, None)
        .await?;
    finish(&mut api, global.output, record, op.wait, op.tenant.as_deref()).await
}

/// Prints the record; with `wait`, follows it to the end of its operation first.
async fn finish(
    api: &mut Api,
    format: Format,
    record: Value,
    wait: bool,
    tenant: Option<&str>,
) -> Result<String, CliError> {
    if !wait {
        return Ok(output::record(format, &record));
    }
    let id = record["id"]
        .as_str()
        .ok_or_else(|| CliError::Local("the answer has no sandbox id".into()))?
        .to_owned();
    let path = with_tenant(format!("/sandboxes/{id}"), tenant);
    let ended = wait::follow(api, &path, &record).await?;
    let text = output::record(format, &ended);
    if ended["state"] == "failed" {
        // The record is printed (to stdout) and the failure is the exit code.
        println!("{text}");
        let failure = &ended["failure"];
        return Err(CliError::Failed(format!(
            "{} failed: {}: {}",
            failure["operation"].as_str().unwrap_or("the operation"),
            failure["error"].as_str().unwrap_or("error"),
            failure["cause"].as_str().unwrap_or("")
        )));
    }
    Ok(text)
}

/// The tenants that have an account (assigned or expired): who `ls --all-tenants` asks for.
async fn tenants_with_accounts(api: &mut Api) -> Result<Vec<String>, CliError> {
    let mut tenants: Vec<String> = pages(api, "/accounts")
        .await?
        .iter()
        .filter_map(|a| a["tenant"].as_str().map(str::to_owned))
        .collect();
    tenants.sort();
    tenants.dedup();
    Ok(tenants)
}

/// Opens `url` with `$BROWSER`, or the desktop's opener, when there is a terminal to come back
/// to; without one (a script) only the printed URL is the result.
fn browse(url: &str) {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return;
    }
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            }
            .to_owned()
        });
    if let Err(err) = std::process::Command::new(&opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("sbx: cannot run {opener} ({err}); open the URL yourself");
    }
}
