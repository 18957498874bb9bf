//! The `sbx` client commands as a user runs them, against a local stack of their own: sign-in
//! (a wrong password, the tokens file's mode, a refresh after expiry), a whole lifecycle with
//! `--wait`, table and JSON output (the JSON is the API's record), exit codes, the live
//! display on a pseudo-terminal and none when piped, and a create whose answer is lost made
//! once.

use sbx_stack::{LocalStack, Options};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

struct Cli {
    api_url: String,
    config: PathBuf,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sbx"));
        command
            .args(args)
            .env("SBX_API_URL", &self.api_url)
            .env("SBX_CONFIG_DIR", &self.config)
            .env("SBX_WAIT_INTERVAL_MS", "200")
            .env_remove("SBX_TOKEN")
            .env_remove("NO_COLOR");
        command
    }

    /// Runs `sbx args` off the async runtime, with `stdin` as its input.
    async fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = self.command(args);
        let stdin = stdin.to_owned();
        let shown = format!("{args:?}");
        tokio::task::spawn_blocking(move || {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("sbx {shown}: {e}"));
            if let Some(mut input) = child.stdin.take() {
                use std::io::Write;
                let _ = input.write_all(stdin.as_bytes());
            }
            child
                .wait_with_output()
                .unwrap_or_else(|e| panic!("sbx {shown}: {e}"))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, "").await;
        assert!(
            out.status.success(),
            "sbx {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let text = self.ok(&all).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("sbx {args:?} printed no JSON ({e}): {text}"))
    }
}

async fn stack() -> LocalStack {
    LocalStack::start(Options {
        time_scale: 0.02,
        aws_delay: Duration::from_millis(200),
        pool_size: 2,
        ..Options::default()
    })
    .await
    .unwrap_or_else(|e| panic!("the local stack did not start: {e}"))
}

fn config_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sbx-cli-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn credentials(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("credentials.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_signs_in_and_runs_a_whole_lifecycle() {
    let stack = stack().await;
    let cli = Cli {
        api_url: stack.api_url.clone(),
        config: config_dir("lifecycle"),
    };

    let wrong = cli
        .run(&["login", "alice", "--password-stdin"], "not-her-password\n")
        .await;
    assert_eq!(
        wrong.status.code(),
        Some(5),
        "a wrong password is an auth failure: {wrong:?}"
    );
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        said.starts_with("sbx: unauthorized (401): ") && said.lines().count() == 1,
        "one line with the problem's type and detail: {said}"
    );
    cli.run(&["login", "alice", "--password-stdin"], "Alice-sandbox-1\n")
        .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.config.join("credentials.json"))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_default();
        assert_eq!(mode, 0o600, "the tokens are readable by their owner only");
    }

    let created = cli
        .json(&["create", "demo", "--amq", "--constellation", "payments", "--wait"])
        .await;
    assert_eq!(created["state"], "started", "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    // The JSON is the API's record.
    let api = api_record(&stack, &cli, &id).await;
    assert_eq!(created, api, "sbx -o json prints the API's record");

    let table = cli.ok(&["ls"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATE"),
        "{table}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&id) && l.contains("started")),
        "{table}"
    );
    let listed = cli.json(&["ls"]).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    let shown = cli.ok(&["get", &id]).await;
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("state") && l.ends_with("started")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("endpoints.web") && l.ends_with('/')),
        "get shows where it is reached: {shown}"
    );
    let amq = &created["endpoints"]["amq"];
    assert!(
        amq["host"].is_string() && amq["port"].as_i64().is_some_and(|p| p >= 10_000),
        "{created}"
    );
    let url = cli.ok(&["open", &id]).await;
    assert_eq!(
        url.trim(),
        created["endpoints"]["web"].as_str().unwrap_or_default()
    );
    let yaml = cli.ok(&["get", &id, "-o", "yaml"]).await;
    assert!(yaml.contains("state: started"), "{yaml}");

    let missing = cli.run(&["get", "sb-000000000000"], "").await;
    assert_eq!(missing.status.code(), Some(3), "not found: {missing:?}");
    let conflict = cli.run(&["start", &id], "").await;
    assert_eq!(
        conflict.status.code(),
        Some(4),
        "a conflicting operation: {conflict:?}"
    );
    assert!(String::from_utf8_lossy(&conflict.stderr).contains("invalid-transition (409)"));
    let usage = cli.run(&["extend", &id, "--by", "soon"], "").await;
    assert_eq!(
        usage.status.code(),
        Some(2),
        "a bad duration is a usage error: {usage:?}"
    );
    let forbidden = cli.run(&["accounts", "ls"], "").await;
    assert_eq!(
        forbidden.status.code(),
        Some(5),
        "accounts are for admins: {forbidden:?}"
    );

    let stopped = cli.json(&["stop", &id, "--wait"]).await;
    assert_eq!(stopped["state"], "stopped");
    let closed = cli.run(&["open", &id], "").await;
    assert_eq!(
        closed.status.code(),
        Some(4),
        "a stopped sandbox cannot be opened: {closed:?}"
    );
    let extended = cli.json(&["extend", &id, "--by", "2h"]).await;
    assert_ne!(extended["expires_at"], created["expires_at"]);
    let started = cli.json(&["start", &id, "--wait"]).await;
    assert_eq!(started["state"], "started");
    let deleted = cli.json(&["rm", &id, "--wait"]).await;
    assert_eq!(deleted["state"], "deleted");
    let trail_table = cli.ok(&["events", &id]).await;
    assert!(
        trail_table.starts_with("SEQ") && trail_table.lines().count() == 9,
        "a header and eight events: {trail_table}"
    );
    let events = cli.json(&["events", &id]).await;
    let trail: Vec<&str> = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["to"].as_str())
        .collect();
    assert_eq!(
        trail,
        [
            "initializing",
            "started",
            "stopping",
            "stopped",
            "starting",
            "started",
            "deleting",
            "deleted"
        ]
    );

    // An expired access token is refreshed with the refresh token, and saved.
    let mut saved = credentials(&cli.config);
    saved["access_token"] = Value::from("expired");
    saved["expires_at"] = Value::from("2020-01-01T00:00:00Z");
    std::fs::write(cli.config.join("credentials.json"), saved.to_string()).unwrap_or_else(|e| panic!("{e}"));
    cli.ok(&["ls"]).await;
    let renewed = credentials(&cli.config);
    assert_ne!(renewed["access_token"], "expired", "the token was refreshed");
    cli.ok(&["logout"]).await;
    let signed_out = cli.run(&["ls"], "").await;
    assert_eq!(signed_out.status.code(), Some(5), "{signed_out:?}");
    let _ = std::fs::remove_dir_all(&cli.config);
    stack.stop();
}

/// The record as the API answers it, read with the saved token.
async fn api_record(stack: &LocalStack, cli: &Cli, id: &str) -> Value {
    let token = credentials(&cli.config)["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut record: Value = reqwest::Client::new()
        .get(format!("{}/sandboxes/{id}", stack.api_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The running operation's progress is only there while one runs.
    if let Some(fields) = record.as_object_mut() {
        fields.remove("progress");
    }
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_shows_live_progress_on_a_terminal_and_none_when_piped() {
    let stack = stack().await;
    let cli = Cli {
        api_url: stack.api_url.clone(),
        config: config_dir("progress"),
    };
    cli.run(&["login", "bob", "--password-stdin"], "Bob-sandbox-1\n")
        .await;
    let piped = cli.run(&["create", "quiet", "--wait", "-o", "json"], "").await;
    assert!(piped.status.success(), "{piped:?}");
    assert!(
        piped.stderr.is_empty(),
        "no display when not on a terminal: {}",
        String::from_utf8_lossy(&piped.stderr)
    );

    // `script` gives the command a pseudo-terminal and records what it drew.
    let typescript = cli.config.join("typescript");
    let sbx = env!("CARGO_BIN_EXE_sbx");
    let line = format!("{sbx} create shown --constellation payments --wait -o json");
    let mut script = Command::new("script");
    script
        .args(["-qec", &line])
        .arg(&typescript)
        .env("SBX_API_URL", &cli.api_url)
        .env("SBX_CONFIG_DIR", &cli.config)
        .env("SBX_WAIT_INTERVAL_MS", "100")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let status = tokio::task::spawn_blocking(move || script.status())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("script (util-linux) is needed for this test: {e}"));
    assert!(status.success());
    let drawn = std::fs::read(&typescript).unwrap_or_default();
    let drawn = String::from_utf8_lossy(&drawn);
    assert!(drawn.contains("create: "), "the operation is shown: {drawn}");
    assert!(
        drawn.contains("steps done, last "),
        "the steps done are shown: {drawn}"
    );
    assert!(
        [
            "LaunchInstances",
            "InstancesRunning",
            "Constellations",
            "Infrastructure"
        ]
        .iter()
        .any(|step| drawn.contains(step)),
        "a workflow step is shown: {drawn}"
    );
    assert!(
        drawn.contains("started after"),
        "it ends with the result: {drawn}"
    );

    // Every page is followed: one sandbox a page still lists both of bob's.
    let mut paged = cli.command(&["ls", "-o", "json"]);
    paged.env("SBX_PAGE_SIZE", "1");
    let paged = tokio::task::spawn_blocking(move || paged.output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let paged: Value = serde_json::from_slice(&paged.stdout).unwrap_or_default();
    assert_eq!(paged["items"].as_array().map(Vec::len), Some(2), "{paged}");

    // An admin: the account pool, and every tenant's sandboxes.
    let admin = Cli {
        api_url: stack.api_url.clone(),
        config: config_dir("admin"),
    };
    admin
        .run(&["login", "olivia", "--password-stdin"], "Olivia-operator-1\n")
        .await;
    let accounts = admin.json(&["accounts", "ls"]).await;
    let first = accounts["items"][0]["account_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(first.len(), 12, "{accounts}");
    let table = admin.ok(&["accounts", "ls"]).await;
    assert!(table.starts_with("ACCOUNT") && table.contains(&first), "{table}");
    let account = admin.json(&["accounts", "get", &first]).await;
    assert_eq!(account["account_id"], first.as_str());
    let shown = admin.ok(&["accounts", "get", &first]).await;
    assert!(shown.contains("account_id") && shown.contains(&first), "{shown}");
    let trail = admin.json(&["accounts", "events", &first]).await;
    assert!(
        trail["items"].as_array().is_some_and(|t| !t.is_empty()),
        "{trail}"
    );
    let trail_table = admin.ok(&["accounts", "events", &first]).await;
    assert!(
        trail_table.starts_with("SEQ") && trail_table.contains("CHANGE"),
        "{trail_table}"
    );
    let added = admin.json(&["accounts", "add", &first]).await;
    assert_eq!(
        added["account_id"],
        first.as_str(),
        "a known account is left as it is"
    );
    let not_quarantined = admin.run(&["accounts", "clean", &first], "").await;
    assert_eq!(
        not_quarantined.status.code(),
        Some(4),
        "only a quarantined account is cleaned again: {not_quarantined:?}"
    );
    let everyone = admin.json(&["ls", "--all-tenants"]).await;
    let names: Vec<&str> = everyone["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"quiet") && names.contains(&"shown"), "{everyone}");
    let _ = std::fs::remove_dir_all(&admin.config);
    let _ = std::fs::remove_dir_all(&cli.config);
    stack.stop();
}

/// A proxy to `upstream` that forwards the first request and then drops the connection
/// without its answer, as a network that loses a response; later connections pass through.
async fn lossy_proxy(upstream: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let upstream = upstream.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let lose = std::mem::replace(&mut first, false);
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                if lose {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buffer = vec![0u8; 64 * 1024];
                    if let Ok(n) = client.read(&mut buffer).await {
                        let _ = server.write_all(&buffer[..n]).await;
                        // Wait for the answer, so the request took effect, then lose it.
                        let _ = server.read(&mut buffer).await;
                    }
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_whose_answer_is_lost_is_retried_and_makes_one_sandbox() {
    let stack = stack().await;
    let direct = Cli {
        api_url: stack.api_url.clone(),
        config: config_dir("lossy"),
    };
    direct
        .run(&["login", "alice", "--password-stdin"], "Alice-sandbox-1\n")
        .await;
    let lossy = Cli {
        api_url: lossy_proxy(stack.api_url.clone()).await,
        config: direct.config.clone(),
    };
    // The saved session is for the direct URL; the proxy's URL takes the token as SBX_TOKEN.
    let token = credentials(&direct.config)["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut command = lossy.command(&["create", "once", "-o", "json"]);
    command.env("SBX_TOKEN", token);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "the create was retried: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = direct.json(&["ls"]).await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["once"], "one sandbox, not two");
    let _ = std::fs::remove_dir_all(&direct.config);
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_are_added_listed_rotated_logged_and_removed() {
    let stack = stack().await;
    let cli = Cli {
        api_url: stack.api_url.clone(),
        config: config_dir("webhooks"),
    };
    cli.run(&["login", "alice", "--password-stdin"], "Alice-sandbox-1\n")
        .await;
    let refused = cli
        .run(
            &["webhooks", "add", "https://169.254.169.254/latest/meta-data/"],
            "",
        )
        .await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("link-local"),
        "{refused:?}"
    );
    let added = cli
        .json(&[
            "webhooks",
            "add",
            "http://127.0.0.1:9/hook",
            "--event",
            "sandbox.created",
        ])
        .await;
    let id = added["id"].as_str().unwrap_or_default().to_owned();
    assert!(
        added["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")),
        "{added}"
    );
    let table = cli.ok(&["webhooks", "ls"]).await;
    assert!(
        table.starts_with("ID") && table.contains(&id) && !table.contains("whsec_"),
        "{table}"
    );
    let rotated = cli.json(&["webhooks", "rotate", &id]).await;
    assert_eq!(rotated["signing_secrets"], 2);
    assert_ne!(rotated["secret"], added["secret"]);
    let sandbox = cli.json(&["create", "hooked"]).await;
    let sandbox = sandbox["id"].as_str().unwrap_or_default().to_owned();
    let scheduled = cli
        .json(&[
            "schedule",
            &sandbox,
            "--stop",
            "19:00",
            "--start",
            "07:30",
            "--days",
            "mon,fri",
            "--tz",
            "Europe/London",
            "--idle",
            "2h",
        ])
        .await;
    assert_eq!(
        scheduled["schedule"]["autostop"]["days"],
        serde_json::json!(["mon", "fri"]),
        "{scheduled}"
    );
    assert_eq!(scheduled["schedule"]["idle_minutes"], 120);
    let bad = cli.run(&["schedule", &sandbox, "--stop", "7pm"], "").await;
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("autostop.at"),
        "{bad:?}"
    );
    let told = cli.json(&["notifications", "--expiry-warnings", "8h,30m"]).await;
    assert_eq!(
        told["expiry_warnings"],
        serde_json::json!([28_800, 1_800]),
        "{told}"
    );
    assert_eq!(cli.json(&["notifications"]).await["custom"], true);
    let cleared = cli.json(&["schedule", &sandbox, "--clear"]).await;
    assert!(cleared.get("schedule").is_none(), "{cleared}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let log = cli.json(&["webhooks", "deliveries", &id]).await;
        // Nothing listens on port 9: the first attempt is logged with the connection's error.
        if log["items"][0]["attempts"].as_u64().unwrap_or_default() >= 1 {
            assert_eq!(log["items"][0]["id"], format!("{sandbox}.1.0").as_str(), "{log}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let pending = cli
        .run(&["webhooks", "redeliver", &id, &format!("{sandbox}.1.0")], "")
        .await;
    assert_eq!(
        pending.status.code(),
        Some(4),
        "still being attempted: {pending:?}"
    );
    assert_eq!(
        cli.ok(&["webhooks", "rm", &id]).await.trim(),
        format!("removed {id}")
    );
    let gone = cli.run(&["webhooks", "rm", &id], "").await;
    assert_eq!(gone.status.code(), Some(3), "{gone:?}");
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn costs_and_budgets_are_shown_and_set() {
    let stack = stack().await;
    let (alice, olivia) = (
        Cli {
            api_url: stack.api_url.clone(),
            config: config_dir("cost-alice"),
        },
        Cli {
            api_url: stack.api_url.clone(),
            config: config_dir("cost-olivia"),
        },
    );
    alice
        .run(&["login", "alice", "--password-stdin"], "Alice-sandbox-1\n")
        .await;
    olivia
        .run(&["login", "olivia", "--password-stdin"], "Olivia-operator-1\n")
        .await;
    let created = alice.json(&["create", "priced"]).await;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    let one = alice.json(&["cost", &id]).await;
    assert_eq!(one["id"], id.as_str());
    assert!(one["estimated_usd"].is_number(), "{one}");

    // A member may not set a budget: the API refuses it as forbidden.
    let refused = alice
        .run(&["budget", "set", "--tenant", "acme", "--monthly", "100"], "")
        .await;
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("forbidden"),
        "{refused:?}"
    );
    let set = olivia
        .json(&[
            "budget",
            "set",
            "--tenant",
            "acme",
            "--monthly",
            "250",
            "--cap",
            "40",
            "--thresholds",
            "90,50",
        ])
        .await;
    assert_eq!(set["budget"]["monthly_usd"], 250.0, "{set}");
    assert_eq!(set["budget"]["sandbox_cap_usd"], 40.0);
    assert_eq!(set["budget"]["thresholds"], serde_json::json!([50, 90]));
    let shown = alice.ok(&["budget", "get"]).await;
    assert!(
        shown.contains("monthly    $250.00") && shown.contains("cap        $40.00 per sandbox"),
        "{shown}"
    );
    let table = alice.ok(&["cost"]).await;
    assert!(
        table.starts_with("ID") && table.contains(&id) && table.contains("of a $250.00 budget"),
        "{table}"
    );
    assert!(table.contains("prices: us-east-1 as of"), "{table}");
    let all = alice.json(&["cost"]).await;
    assert_eq!(all["items"][0]["id"], id.as_str(), "{all}");
    assert_eq!(all["tenant"], "acme");
    stack.stop();
}
