//! `create-network` and `delete-network`: the sandbox's own subnet and security group.

use crate::error::StepError;
use crate::job::Job;
use sbx_aws::Networks;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkOutput {
    pub subnet_id: String,
    pub security_group_id: String,
}

pub async fn create(networks: &impl Networks, job: Job) -> Result<NetworkOutput, StepError> {
    let account = job.account()?;
    let account_network = networks
        .account_network(account, &job.account_owner(account))
        .await?
        // Ensured by an earlier step: a describe may not show what it made a moment ago.
        .ok_or_else(|| {
            StepError::NotYet(format!(
                "account {account} has no network visible yet: its infrastructure is ensured first"
            ))
        })?;
    let created = networks
        .create_sandbox_network(
            account,
            &job.sandbox_owner(),
            &account_network,
            (&job.tenant, &job.sandbox_id),
        )
        .await?;
    Ok(NetworkOutput {
        subnet_id: created.subnet_id,
        security_group_id: created.security_group_id,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    pub deleted: bool,
}

pub async fn delete(networks: &impl Networks, job: Job) -> Result<Deleted, StepError> {
    let Some(account) = job.account_id.as_deref() else {
        return Ok(Deleted { deleted: false });
    };
    networks
        .delete_sandbox_network(account, &job.sandbox_owner())
        .await?;
    Ok(Deleted { deleted: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::test_job as job;
    use sbx_fakes::{ACCOUNT, FakeAws};

    #[tokio::test]
    async fn creating_twice_makes_one_network_and_deleting_twice_is_ok() {
        let aws = FakeAws::default();
        aws.add_account_network(ACCOUNT);
        let first = create(&aws, job("create", Some(ACCOUNT))).await;
        let again = create(&aws, job("create", Some(ACCOUNT))).await;
        assert!(first.is_ok(), "{first:?}");
        assert_eq!(first.ok(), again.ok(), "a re-run finds what the first run made");
        assert_eq!(aws.state().sandbox_networks.len(), 1);

        for _ in 0..2 {
            let out = delete(&aws, job("delete", Some(ACCOUNT))).await;
            assert_eq!(out.ok(), Some(Deleted { deleted: true }));
        }
        assert!(aws.state().sandbox_networks.is_empty());
        assert_eq!(
            aws.state()
                .changes
                .iter()
                .filter(|c| c.starts_with("DeleteSubnet"))
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn creating_needs_the_account_and_its_network() {
        let aws = FakeAws::default();
        let no_account = create(&aws, job("create", None)).await;
        assert!(
            matches!(no_account, Err(StepError::InvalidInput(_))),
            "{no_account:?}"
        );
        let no_network = create(&aws, job("create", Some(ACCOUNT))).await;
        assert!(
            matches!(&no_network, Err(StepError::NotYet(m)) if m.contains("has no network")),
            "{no_network:?}"
        );
        assert!(aws.state().changes.is_empty());
    }

    #[tokio::test]
    async fn deleting_before_an_account_touches_nothing_and_failures_keep_their_kind() {
        let aws = FakeAws::default();
        assert_eq!(
            delete(&aws, job("delete", None)).await.ok(),
            Some(Deleted { deleted: false })
        );
        aws.fail_with("Throttling");
        let throttled = delete(&aws, job("delete", Some(ACCOUNT))).await;
        assert!(matches!(throttled, Err(StepError::Transient(_))), "{throttled:?}");
    }
}
