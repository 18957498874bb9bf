//! The `deregister-ingress` Lambda: removes the sandbox's routes.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (accounts, domain) = (init.accounts(), init.ingress_domain());
    sbx_steps::lambda::run(|job| sbx_steps::ingress::deregister(&accounts, &domain, job)).await
}
