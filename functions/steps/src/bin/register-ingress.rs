//! The `register-ingress` Lambda: the sandbox's routes through the load balancers.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::register_ingress).await
}
