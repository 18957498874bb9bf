//! The `install-constellations` Lambda: sends the SSM command that installs the constellations.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::install_constellations).await
}
