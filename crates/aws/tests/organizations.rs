//! The Organizations adapter against a real moto server: a new account is created and found
//! among the creations, and placed in the unit of its state once (a second placement moves
//! nothing). What the organization holds is read back with plain SDK calls.

use sbx_aws::organizations::{CreationState, Organization, Units};
use sbx_moto::MotoServer;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_new_account_is_created_found_and_placed_in_its_unit_once() {
    let moto = MotoServer::start_on(0, Duration::ZERO).unwrap_or_else(|e| panic!("moto: {e}"));
    let config = moto.sdk_config().await;
    let client = aws_sdk_organizations::Client::new(&config);
    client
        .create_organization()
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateOrganization: {e:?}"));
    let root = client
        .list_roots()
        .send()
        .await
        .ok()
        .and_then(|r| r.roots().first().and_then(|r| r.id()).map(str::to_owned))
        .unwrap_or_else(|| panic!("no root"));
    let mut ids = Vec::new();
    for name in ["Pool", "Customers", "Expired", "Quarantine"] {
        let unit = client
            .create_organizational_unit()
            .parent_id(&root)
            .name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateOrganizationalUnit: {e:?}"));
        ids.push(
            unit.organizational_unit()
                .and_then(|u| u.id())
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let organization = Organization {
        client: client.clone(),
        units: Units {
            pool: ids[0].clone(),
            customers: ids[1].clone(),
            expired: ids[2].clone(),
            quarantine: ids[3].clone(),
        },
        email_domain: "sbx.example".into(),
    };

    let request = organization
        .create_account("sbx-pool-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let account = loop {
        let creations = organization.creations().await.unwrap_or_else(|e| panic!("{e}"));
        let ours = creations
            .iter()
            .find(|c| c.request_id == request)
            .unwrap_or_else(|| panic!("the creation {request} is not listed: {creations:?}"));
        assert_eq!(ours.email_name, "sbx-pool-1");
        match &ours.state {
            CreationState::Succeeded { account_id } => break account_id.clone(),
            CreationState::InProgress => {}
            CreationState::Failed { reason } => panic!("the creation failed: {reason}"),
        }
        assert!(Instant::now() < deadline, "still in progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let parent = |account: String| {
        let client = client.clone();
        async move {
            client
                .list_parents()
                .child_id(account)
                .send()
                .await
                .ok()
                .and_then(|p| p.parents().first().and_then(|p| p.id()).map(str::to_owned))
        }
    };
    assert_eq!(parent(account.clone()).await.as_deref(), Some(root.as_str()));
    let pool = organization.units.pool.clone();
    assert_eq!(organization.place(&account, &pool).await.ok(), Some(true));
    assert_eq!(parent(account.clone()).await, Some(pool.clone()));
    assert_eq!(
        organization.place(&account, &pool).await.ok(),
        Some(false),
        "placed already: nothing moves"
    );
    let quarantine = organization.units.quarantine.clone();
    assert_eq!(organization.place(&account, &quarantine).await.ok(), Some(true));
    assert_eq!(parent(account.clone()).await, Some(quarantine));
    let unknown = organization.place("999999999999", &pool).await;
    assert!(
        unknown.is_err(),
        "an account outside the organization: {unknown:?}"
    );
}
