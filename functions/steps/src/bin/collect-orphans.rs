//! The `collect-orphans` Lambda: removes resources of deleted sandboxes, and shared
//! infrastructure no active sandbox needs.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, accounts, infra) = (init.store()?, init.accounts(), init.infrastructure()?);
    let (domain, settings) = (init.ingress_domain(), init.sweep_settings()?);
    sbx_steps::lambda::run(|input| {
        sbx_steps::sweep::orphans::collect(&store, &accounts, &infra, &domain, &settings, input)
    })
    .await
}
