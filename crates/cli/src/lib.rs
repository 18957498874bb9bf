//! The `sbx` command line's client commands (the binary `sbx`, `src/main.rs`; the local stack is
//! `sbx-local`): sign in once, then manage sandboxes and accounts over the HTTPS API.
//!
//! - `sbx login` / `sbx logout`: tokens in the user's config directory, mode 0600 ([`config`]),
//!   refreshed when they expire ([`api`]);
//! - `sbx create | ls | get | start | stop | rm | extend | events`, `sbx accounts ...`;
//! - `-o table|json|yaml` ([`output`]); `--wait` shows live progress on a terminal ([`wait`]);
//! - `--api-url` or `SBX_API_URL`, and `SBX_TOKEN` to use a token as it is (CI);
//! - errors are one line, `sbx: <type> (<status>): <detail>`, with the exit codes of
//!   [`api::exit`]: 2 usage, 3 not found, 4 conflict or quota, 5 authentication, 6 unavailable,
//!   1 anything else (a failed operation waited for).

pub mod api;
pub mod config;
pub mod output;
pub mod wait;

use api::{Api, CliError};
use clap::{Args, Subcommand};
use output::Format;
use reqwest::Method;
use serde_json::{Value, json};

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The API's base URL (default: $SBX_API_URL, or the one `sbx login` signed in to).
    #[arg(long, global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// How to print results: a table for people, or the API's JSON or YAML for scripts.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Client {
    /// Sign in; the password is read without echo (or from stdin with --password-stdin).
    #[command(
        after_help = "Examples:\n  sbx login alice\n  echo \"$PASSWORD\" | sbx login alice --password-stdin"
    )]
    Login {
        /// The user name (asked for when left out).
        username: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the saved tokens.
    #[command(after_help = "Example:\n  sbx logout")]
    Logout,
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
    /// What your tenant is told and when: show it, or set the expiry warnings.
    #[command(after_help = "Examples:
  sbx notifications
  sbx notifications --expiry-warnings 8h,30m
  sbx notifications --no-expiry-warnings")]
    Notifications {
        /// How long before an expiry to warn, comma-separated (`24h,1h`).
        #[arg(
            long,
            value_name = "DURATIONS",
            value_delimiter = ',',
            conflicts_with = "no_expiry_warnings"
        )]
        expiry_warnings: Vec<String>,
        /// Give no expiry warnings.
        #[arg(long)]
        no_expiry_warnings: bool,
        /// The tenant (admins); your own by default.
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// What sandboxes cost: one sandbox's estimate, or each of your tenant's and its month
    /// against its budget.
    #[command(after_help = "Examples:
  sbx cost
  sbx cost sb-1a2b3c4d5e6f
  sbx cost --tenant acme -o json")]
    Cost {
        id: Option<String>,
        /// The tenant (admins); your own by default.
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// A tenant's monthly budget: show it (members), or set it (admins).
    #[command(subcommand)]
    Budget(Budget),
    /// The account pool (admins).
    #[command(subcommand)]
    Accounts(Accounts),
    /// The tenant's webhook endpoints: signed deliveries of every event (Standard Webhooks).
    #[command(subcommand)]
    Webhooks(Webhooks),
}

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
    /// An endpoint's delivery log, every page.
    #[command(after_help = "Example:\n  sbx webhooks deliveries wh_0123456789ab")]
    Deliveries {
        id: String,
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// Attempt a delivered or failed delivery again.
    #[command(after_help = "Example:\n  sbx webhooks redeliver wh_0123456789ab sb-1a2b3c4d5e6f.2.0")]
    Redeliver {
        id: String,
        delivery: String,
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

/// Runs a client command; what it prints goes to stdout, errors to stderr as one line.
pub async fn run(global: Global, command: Client) -> std::process::ExitCode {
    match execute(&global, command).await {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("sbx: {err}");
            std::process::ExitCode::from(err.exit_code())
        }
    }
}

fn with_tenant(path: String, tenant: Option<&str>) -> String {
    match tenant {
        Some(t) => format!("{path}{}tenant={t}", if path.contains('?') { '&' } else { '?' }),
        None => path,
    }
}

async fn execute(global: &Global, command: Client) -> Result<String, CliError> {
    let format = global.output;
    match command {
        Client::Login {
            username,
            password_stdin,
        } => login(global, username, password_stdin).await,
        Client::Logout => Ok(
            match config::remove().map_err(|e| CliError::Local(e.to_string()))? {
                true => "signed out".to_owned(),
                false => "not signed in".to_owned(),
            },
        ),
        Client::Create {
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
        Client::Ls {
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
        Client::Get { id, tenant } => {
            let mut api = Api::open(global.api_url.clone())?;
            let record = api
                .get(&with_tenant(format!("/sandboxes/{id}"), tenant.as_deref()))
                .await?;
            Ok(output::record(format, &record))
        }
        Client::Start(op) => operate(global, "start", op).await,
        Client::Stop(op) => operate(global, "stop", op).await,
        Client::Rm(op) => operate(global, "delete", op).await,
        Client::Extend {
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
        Client::Open { id, tenant } => {
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
        Client::Events { id, tenant } => {
            let mut api = Api::open(global.api_url.clone())?;
            let events = api
                .get(&with_tenant(format!("/sandboxes/{id}/events"), tenant.as_deref()))
                .await?;
            let items = events["items"].as_array().cloned().unwrap_or_default();
            Ok(output::list(format, &items, output::EVENT_COLUMNS))
        }
        Client::Schedule {
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
        Client::Notifications {
            expiry_warnings,
            no_expiry_warnings,
            tenant,
        } => {
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
        Client::Cost { id, tenant } => cost(global, id, tenant).await,
        Client::Budget(command) => budget(global, command).await,
        Client::Accounts(command) => accounts(global, command).await,
        Client::Webhooks(command) => webhooks(global, command).await,
    }
}

async fn login(global: &Global, username: Option<String>, password_stdin: bool) -> Result<String, CliError> {
    let base = global
        .api_url
        .clone()
        .or_else(|| std::env::var("SBX_API_URL").ok().filter(|u| !u.is_empty()))
        .ok_or_else(|| CliError::Usage("no API URL: pass --api-url or set SBX_API_URL".into()))?;
    let username = match username {
        Some(u) => u,
        None => {
            eprint!("user name: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CliError::Local(e.to_string()))?;
            line.trim().to_owned()
        }
    };
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Local(e.to_string()))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password("password: ")
            .map_err(|e| CliError::Local(format!("cannot read the password: {e}")))?
    };
    let api = Api::anonymous(base)?;
    let session = api.sign_in(&username, &password).await?;
    let path = config::save(&session).map_err(|e| CliError::Local(e.to_string()))?;
    Ok(format!(
        "signed in to {} as {username} (tokens in {})",
        session.api_url,
        path.display()
    ))
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

/// Every item of every page of `path`.
async fn pages(api: &mut Api, path: &str) -> Result<Vec<Value>, CliError> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page_path = match &token {
            Some(t) => format!(
                "{path}{}next_token={t}",
                if path.contains('?') { '&' } else { '?' }
            ),
            None => path.to_owned(),
        };
        let page = api.get(&page_path).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
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

async fn accounts(global: &Global, command: Accounts) -> Result<String, CliError> {
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

/// The caller's own tenant, as the API names it on their sandboxes' list.
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

async fn cost(global: &Global, id: Option<String>, tenant: Option<String>) -> Result<String, CliError> {
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

async fn budget(global: &Global, command: Budget) -> Result<String, CliError> {
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

async fn own_tenant(api: &mut Api) -> Result<String, CliError> {
    let page = api.get("/sandboxes?limit=1").await?;
    if let Some(tenant) = page["items"][0]["tenant"].as_str() {
        return Ok(tenant.to_owned());
    }
    Err(CliError::Usage(
        "your tenant has no sandbox to name it by: pass --tenant".into(),
    ))
}

async fn webhooks(global: &Global, command: Webhooks) -> Result<String, CliError> {
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

/// `30m`, `12h`, `2d` (or seconds with `s`).
pub fn duration(text: &str) -> Result<chrono::Duration, CliError> {
    duration_of("--by", text)
}

/// [`duration`] for the option `flag`, named in the error.
pub fn duration_of(flag: &str, text: &str) -> Result<chrono::Duration, CliError> {
    let bad = || CliError::Usage(format!("{flag}: a duration like 30m, 12h or 2d, not {text:?}"));
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = number.parse().map_err(|_| bad())?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_a_number_and_a_unit() {
        assert_eq!(duration("30m").ok(), Some(chrono::Duration::minutes(30)));
        assert_eq!(duration("2d").ok(), Some(chrono::Duration::days(2)));
        for bad in ["", "h", "12", "1.5h", "3w"] {
            assert!(matches!(duration(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
    }
}
