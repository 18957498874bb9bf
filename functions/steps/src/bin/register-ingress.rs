//! The `register-ingress` Lambda: the sandbox's routes through the load balancers.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (accounts, domain) = (init.accounts(), init.ingress_domain());
    sbx_steps::lambda::run(|job| sbx_steps::ingress::register(&accounts, &domain, job)).await
}
