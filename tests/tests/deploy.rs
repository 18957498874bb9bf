//! The deploy command, rehearsed against the local AWS as docs/deploy.md tells an operator to:
//! `scripts/deploy --local` ends successfully, the template's functions, tables, state machines,
//! roles and bus exist with what the template gives them, what moto cannot create is listed by
//! logical id, a second run changes nothing, and `scripts/undeploy --local` removes it all but
//! the tables.

use sbx_e2e::{root, stack};
use sbx_stack::LocalStack;
use serde_json::Value;
use std::process::Command;

const STACK: &str = "rehearsal";

/// Runs `scripts/<script> --local` against the stack's moto with `args`; returns its output.
fn script(stack: &LocalStack, script: &str, args: &[&str]) -> String {
    let output = Command::new(root().join("scripts").join(script))
        .arg("--local")
        .args(args)
        .env("AWS_ENDPOINT_URL", &stack.aws_upstream)
        .env("AWS_ACCESS_KEY_ID", sbx_moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", sbx_moto::SECRET_ACCESS_KEY)
        .env("AWS_REGION", sbx_stack::REGION)
        .env("AWS_DEFAULT_REGION", sbx_stack::REGION)
        .env_remove("AWS_ENDPOINT_URL_SFN")
        .output()
        .unwrap_or_else(|e| panic!("scripts/{script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "scripts/{script} failed:\n{text}");
    text
}

/// The configuration an operator keeps, with the seeded images and organization.
async fn config(stack: &LocalStack, dir: &std::path::Path) -> std::path::PathBuf {
    let organization = aws_sdk_organizations::Client::new(&stack.config)
        .describe_organization()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .organization
        .and_then(|o| o.id)
        .unwrap_or_default();
    let images = &stack.seed.images;
    let path = dir.join("sbx-deploy.toml");
    let text = format!(
        "stack_name = \"{STACK}\"\nregion = \"{}\"\nadmin_email = \"admin@example.com\"\n\n[parameters]\nAcpImageId = \"{}\"\nOcpImageId = \"{}\"\nProxyImageId = \"{}\"\nOrganizationId = \"{organization}\"\n",
        sbx_stack::REGION,
        images.acp,
        images.ocp,
        images.proxy
    );
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// What boto3 sees of the deployed functions: name → (role, environment).
fn functions(stack: &LocalStack) -> serde_json::Map<String, Value> {
    let code = "import boto3, json\nprint(json.dumps({f['FunctionName']: [f['Role'], f.get('Environment', {}).get('Variables', {})] for p in boto3.client('lambda').get_paginator('list_functions').paginate() for f in p['Functions']}))";
    let output = Command::new(root().join(".venv/bin/python"))
        .args(["-c", code])
        .env("AWS_ENDPOINT_URL", &stack.aws_upstream)
        .env("AWS_ACCESS_KEY_ID", sbx_moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", sbx_moto::SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", sbx_stack::REGION)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    match serde_json::from_slice(&output.stdout) {
        Ok(Value::Object(map)) => map,
        other => panic!("not a map of functions: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_command_rehearses_against_the_local_aws_and_the_undeploy_removes_it() {
    let stack = stack(1).await;
    let dir = std::env::temp_dir().join(format!("sbx-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let config = config(&stack, &dir).await;
    let summary = dir.join("summary.json");
    let config_arg = config.to_string_lossy().into_owned();
    let summary_arg = summary.to_string_lossy().into_owned();
    let printed = script(
        &stack,
        "deploy",
        &["--config", &config_arg, "--summary", &summary_arg],
    );

    // What moto cannot create is listed by logical id, with the reason.
    for listed in [
        "UserPool: not created: moto's CloudFormation has no model for AWS::Cognito::UserPool",
        "SweepSchedule: not created: moto's CloudFormation has no model for AWS::Scheduler::Schedule",
        "HttpApi: not created: moto's CloudFormation has no model for AWS::ApiGatewayV2::Api",
        "ApiDistribution: not created",
        "first admin: not created",
    ] {
        assert!(printed.contains(listed), "{listed:?} is not listed:\n{printed}");
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let outputs = &summary["outputs"];

    // The functions, each with its own role and the template's environment.
    let deployed = functions(&stack);
    let ours: Vec<&String> = deployed
        .keys()
        .filter(|name| name.starts_with("rehearsal-"))
        .collect();
    assert_eq!(ours.len(), 34, "{ours:?}");
    let launch = &deployed["rehearsal-launch-instances"];
    assert!(
        launch[0]
            .as_str()
            .unwrap_or_default()
            .contains("rehearsal-LaunchInstancesRole"),
        "{launch}"
    );
    let sandboxes_table = outputs["SandboxesTableName"].as_str().unwrap_or_default();
    assert_eq!(launch[1]["SBX_SANDBOXES_TABLE"], sandboxes_table);
    assert_eq!(launch[1]["SBX_ACP_IMAGE_ID"], stack.seed.images.acp.as_str());

    // The tables, as the template defines them (the store's own schema).
    let dynamo = aws_sdk_dynamodb::Client::new(&stack.config);
    for (output, local) in [
        ("SandboxesTableName", &stack.tables.sandboxes),
        ("EventsTableName", &stack.tables.events),
        ("AccountsTableName", &stack.tables.accounts),
    ] {
        let indexes = |table: aws_sdk_dynamodb::types::TableDescription| {
            let mut names: Vec<String> = table
                .global_secondary_indexes()
                .iter()
                .filter_map(|i| i.index_name().map(str::to_owned))
                .collect();
            names.sort();
            names
        };
        let describe = |name: String| {
            let dynamo = dynamo.clone();
            async move {
                dynamo
                    .describe_table()
                    .table_name(name)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e:?}"))
                    .table
                    .unwrap_or_else(|| panic!("no table"))
            }
        };
        let deployed = describe(outputs[output].as_str().unwrap_or_default().to_owned()).await;
        let reference = describe(local.clone()).await;
        assert_eq!(indexes(deployed), indexes(reference), "{output}");
    }

    // The state machines, their definitions substituted with the deployed functions.
    let sfn = aws_sdk_sfn::Client::new(&stack.config);
    let create = sfn
        .describe_state_machine()
        .state_machine_arn(outputs["CreateStateMachineArn"].as_str().unwrap_or_default())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(!create.definition().contains("${"), "a substitution is left");
    assert!(
        create
            .definition()
            .contains(":function:rehearsal-launch-instances")
    );
    assert!(create.role_arn().contains("rehearsal-CreateStateMachineRole"));

    // The bus.
    let bus = outputs["EventBusName"].as_str().unwrap_or_default();
    aws_sdk_eventbridge::Client::new(&stack.config)
        .describe_event_bus()
        .name(bus)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the bus {bus}: {e:?}"));

    // Again: nothing new is made.
    script(&stack, "deploy", &["--config", &config_arg]);
    let again = functions(&stack);
    assert_eq!(again.keys().filter(|n| n.starts_with("rehearsal-")).count(), 34);

    // Removed, but for the tables.
    let removed = script(&stack, "undeploy", &["--config", &config_arg]);
    assert!(removed.contains("kept: the five DynamoDB tables"), "{removed}");
    assert_eq!(
        functions(&stack)
            .keys()
            .filter(|n| n.starts_with("rehearsal-"))
            .count(),
        0
    );
    dynamo
        .describe_table()
        .table_name(sandboxes_table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the sandboxes table is kept: {e:?}"));
    let _ = std::fs::remove_dir_all(&dir);
}
