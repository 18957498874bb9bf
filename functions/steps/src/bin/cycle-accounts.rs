//! The `cycle-accounts` Lambda: expires idle accounts, cleans them after retention, proves
//! them empty, and returns them to the pool or quarantines them.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, accounts, infra) = (init.store()?, init.accounts(), init.infrastructure()?);
    let (domain, settings, organization) = (
        init.ingress_domain(),
        init.sweep_settings()?,
        init.organization()?,
    );
    sbx_steps::lambda::run(|input| {
        sbx_steps::sweep::accounts::cycle(
            &store,
            &accounts,
            &infra,
            organization.as_ref(),
            &domain,
            &settings,
            input,
        )
    })
    .await
}
