//! The web console in a real browser: a local stack of its own serving the built console
//! (`console/dist`, made by `scripts/build-console`), an account quarantined with a reason for
//! the admin's pages, and the browser tests (`console/tests/`, Debian's Chromium driven by
//! playwright-core) run against it by Node. Their screenshots go to
//! `target/console-screenshots/`.

use sbx_e2e::api::Api;
use sbx_e2e::{root, stack_with};
use sbx_lifecycle::{Operation, Outcome};
use sbx_stack::Options;
use sbx_store::SandboxStore;
use std::time::Duration;

/// The deployed console is served with the same Content-Security-Policy as the local one: the
/// template's response headers policy carries the gateway's value.
#[test]
fn the_template_serves_the_console_with_the_local_content_security_policy() {
    let template = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap_or_default();
    let policy = sbx_gateway::console::CONTENT_SECURITY_POLICY;
    assert!(
        template.contains(&format!("ContentSecurityPolicy: \"{policy}\"")),
        "infra/template.yaml's ConsoleHeaders must carry {policy:?}"
    );
    assert!(!policy.contains("unsafe-inline") && policy.contains("script-src 'self'"));
    assert!(template.contains("PathPattern: /console*"));
}

/// The account the admin's test finds quarantined.
const QUARANTINED: &str = "300000000001";

#[tokio::test(flavor = "multi_thread")]
async fn the_console_works_in_a_real_browser() {
    let root = root();
    let dist = root.join("console").join("dist");
    assert!(
        dist.join("index.html").is_file() && dist.join("app.js").is_file(),
        "the console is not built in {}: run scripts/build-console (scripts/test does)",
        dist.display()
    );
    let chromium = std::env::var("SBX_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        std::path::Path::new(&chromium).is_file(),
        "no Chromium at {chromium}: scripts/setup installs Debian's"
    );
    let stack = stack_with(Options {
        pool_size: 3,
        console_dir: Some(dist),
        ..Options::default()
    })
    .await;
    let Some(console_url) = stack.console_url.clone() else {
        panic!("the stack serves the console it was given");
    };

    sbx_e2e::quarantine(
        &stack,
        QUARANTINED,
        "left behind: instance i-0abc (running), nat-0def (deleting)",
    )
    .await;
    let store = &stack.store;

    // A sandbox of alice's whose stop failed, for the page that shows a failure.
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let created = api
        .send(
            "POST",
            "/sandboxes",
            Some(&alice),
            Some(&serde_json::json!({"name": "stop that failed"})),
        )
        .await;
    assert_eq!(created.status, 202, "{created:?}");
    let failed = created.body["id"].as_str().unwrap_or_default().to_owned();
    api.wait_for(&alice, &failed, "started").await;
    let stopping = store
        .begin("acme", &failed, Operation::Stop)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .finish(
            "acme",
            &failed,
            Operation::Stop,
            stopping.version,
            Outcome::Failed {
                error: "Sbx.Transient".into(),
                cause: "StopInstances: RequestLimitExceeded (<script>alert(1)</script>)".into(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Its tenant has a budget, and two hours of spend metered (time made to pass).
    let olivia = api.token("olivia").await;
    let budget = api
        .send(
            "PUT",
            "/tenants/acme/budget",
            Some(&olivia),
            Some(&serde_json::json!({"monthly_usd": 1000})),
        )
        .await;
    assert_eq!(budget.status, 200, "{budget:?}");
    let created_at =
        chrono::DateTime::parse_from_rfc3339(created.body["created_at"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    sbx_e2e::succeed(
        &stack,
        "deadlines",
        "two-hours-of-spend",
        &serde_json::json!({"as_of": (created_at + chrono::Duration::hours(2)).to_rfc3339()}),
    )
    .await;

    let screenshots = root.join("target").join("console-screenshots");
    let run = tokio::process::Command::new("node")
        .args([
            "--test",
            "--test-reporter=spec",
            "--test-concurrency=1",
            "console/tests/",
        ])
        .current_dir(&root)
        .env("SBX_CONSOLE_URL", &console_url)
        .env("SBX_API_URL", &stack.api_url)
        .env("SBX_QUARANTINED_ACCOUNT", QUARANTINED)
        .env("SBX_FAILED_SANDBOX", &failed)
        .env("SBX_SCREENSHOTS", &screenshots)
        .env("SBX_CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(280), run)
        .await
        .unwrap_or_else(|_| panic!("the browser tests ran over 280 s"))
        .unwrap_or_else(|e| panic!("node could not be run: {e}"));
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    stack.stop();
    assert!(output.status.success(), "the browser tests failed:\n{report}");
    println!("{report}");
    for page in [
        "01-sign-in",
        "05-sandbox-started",
        "09-list",
        "14-accounts-quarantined",
    ] {
        assert!(
            screenshots.join(format!("{page}.png")).is_file(),
            "no screenshot {page} in {}",
            screenshots.display()
        );
    }
}
