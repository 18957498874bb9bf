//! The `deregister-ingress` Lambda: removes the sandbox's routes.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::deregister_ingress).await
}
