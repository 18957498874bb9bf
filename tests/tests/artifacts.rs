//! The deployable artifacts: what `scripts/build-lambdas` builds is exactly what
//! `infra/template.yaml` deploys, and every Lambda binary names its own handler.

use sbx_e2e::root;
use serde_json::Value;
use std::collections::BTreeSet;

/// The packages `scripts/build-lambdas` builds: its `LAMBDA_PACKAGES=(...)` line.
fn built_packages() -> Vec<String> {
    let script = std::fs::read_to_string(root().join("scripts/build-lambdas")).unwrap_or_default();
    let line = script
        .lines()
        .find_map(|line| line.strip_prefix("LAMBDA_PACKAGES=("))
        .unwrap_or_else(|| panic!("scripts/build-lambdas has no LAMBDA_PACKAGES=(...) line"));
    line.trim_end_matches(')')
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The binaries of `packages`, with their source files, as cargo sees them.
fn binaries(packages: &[String]) -> Vec<(String, String, std::path::PathBuf)> {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cargo metadata: {e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}"));
    let mut bins = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        if !packages.iter().any(|p| p == name) {
            continue;
        }
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_bin = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k == "bin");
            if is_bin {
                bins.push((
                    name.to_owned(),
                    target["name"].as_str().unwrap_or_default().to_owned(),
                    target["src_path"].as_str().unwrap_or_default().into(),
                ));
            }
        }
    }
    bins
}

/// The function directories the template's `AWS::Serverless::Function`s deploy from.
fn template_functions() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap_or_default();
    // CloudFormation tags (!Ref, !Sub, ...) are not YAML serde_yaml knows; only CodeUri matters.
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("CodeUri: ../target/lambda/"))
        .map(|dir| dir.trim_end_matches('/').to_owned())
        .collect()
}

#[test]
fn the_template_deploys_exactly_what_build_lambdas_builds() {
    let packages = built_packages();
    assert_eq!(packages, ["sbx-steps", "sbx-api", "sbx-notify"]);
    let built: BTreeSet<String> = binaries(&packages).into_iter().map(|(_, bin, _)| bin).collect();
    let deployed = template_functions();
    assert_eq!(deployed.len(), 34, "{deployed:?}");
    assert_eq!(built, deployed);
    let listed: BTreeSet<String> = sbx_steps::FUNCTIONS
        .iter()
        .chain(sbx_api::routes::FUNCTIONS.iter())
        .chain(sbx_notify::LAMBDAS.iter())
        .map(|name| name.to_string())
        .collect();
    assert_eq!(listed, built, "the step and API function lists name the binaries");
}

/// Each binary serves its own function by name (so the compiler checks it), the one its file
/// is named after, and never the in-process dispatcher, which would link every handler into it.
#[test]
fn every_lambda_binary_names_its_own_handler() {
    let bins = binaries(&built_packages());
    for (package, bin, source) in &bins {
        let text = std::fs::read_to_string(source).unwrap_or_default();
        let function = bin.replace('-', "_");
        let serves = match package.as_str() {
            "sbx-steps" => format!("sbx_steps::lambda::serve(sbx_steps::functions::{function})"),
            "sbx-notify" => format!("sbx_notify::functions::{function}(init"),
            _ => "sbx_api::lambda::run(".to_owned(),
        };
        assert!(text.contains(&serves), "{bin} does not serve through {serves}");
        for dispatcher in ["invoke(", "dispatch", "Function::build", "Steps"] {
            assert!(!text.contains(dispatcher), "{bin} goes through {dispatcher}");
        }
    }
}
