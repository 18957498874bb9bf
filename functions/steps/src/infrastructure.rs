//! `ensure-infrastructure` and `release-infrastructure`: the account's shared infrastructure
//! follows its active sandboxes (SPEC: it exists exactly while at least one sandbox of the
//! account is active). Both run under the account lock, check that they still hold it, and
//! journal what they did with when they began and ended.
//!
//! Neither waits for AWS: each does what can be done now and answers `settled: false` with
//! what it is waiting for (a NAT gateway pending or deleting, the fleet stopping). The state
//! machine then waits and calls it again, still under the lock, until it is settled.

use crate::error::StepError;
use crate::job::Job;
use crate::{lock, sandboxes};
use sbx_aws::infra::Want;
use sbx_aws::{Networks, SharedInfrastructure};
use sbx_store::{AccountStore, InfraChange, LockStore, SandboxStore};
use serde::Serialize;

/// The store's parts these steps use: the tenant's records, the lock and the account journal.
pub trait Store: SandboxStore + AccountStore + LockStore {}
impl<T: SandboxStore + AccountStore + LockStore> Store for T {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InfraOutput {
    pub changes: Vec<String>,
    /// What AWS is still changing; empty once the infrastructure is what was wanted.
    pub waiting: Vec<String>,
    /// Whether nothing is left to wait for (the state machine's loop condition).
    pub settled: bool,
}

impl InfraOutput {
    fn nothing() -> Self {
        Self {
            changes: Vec::new(),
            waiting: Vec::new(),
            settled: true,
        }
    }
}

/// What the tenant's active sandboxes need; `exclude` is the sandbox whose need is ending.
async fn wanted(store: &impl SandboxStore, job: &Job, exclude: Option<&str>) -> Result<Want, StepError> {
    let mut want = Want::default();
    for sandbox in sandboxes::live(store, &job.tenant).await? {
        if !sandbox.state.is_active() || Some(sandbox.id.as_str()) == exclude {
            continue;
        }
        want.base = true;
        want.nlb |= sandbox.options.amq;
        want.fleet |= sandbox.options.smart_client;
    }
    Ok(want)
}

/// Creates what the account's active sandboxes, this one included, need.
///
/// `visibility` is how long a VPC EC2 made may stay invisible to describes: EC2 takes no client
/// token for a VPC, so a create is sent only when none was sent within that long (a lease on
/// `vpc-create:<account>`, taken by each create). Meanwhile a VPC not seen is not yet seen.
pub async fn ensure(
    store: &impl Store,
    networks: &impl Networks,
    infra: &impl SharedInfrastructure,
    job: Job,
    visibility: std::time::Duration,
) -> Result<InfraOutput, StepError> {
    let mut want = wanted(store, &job, None).await?;
    // This job's sandbox is active by definition while it needs the infrastructure.
    want.base = true;
    want.nlb |= job.options.amq;
    want.fleet |= job.options.smart_client;
    let account = job.account()?;
    lock::ensure_held(store, &job, account).await?;
    if !networks.has_vpc(account, &job.account_owner(account)).await? {
        let marker = format!("vpc-create:{account}");
        // Each create is its own owner, so that no later one extends its lease.
        let attempt = format!(
            "{}@{}",
            job.execution,
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        match store.acquire(&marker, &attempt, visibility).await {
            Ok(_) => {}
            Err(sbx_store::StoreError::LockHeld { until, .. }) => {
                return Err(StepError::NotYet(format!(
                    "a VPC create was sent to {account} lately and is not visible yet; none is \
                     sent again before {until}"
                )));
            }
            Err(err) => return Err(err.into()),
        }
    }
    converge(store, networks, infra, &job, want, Network::Ensure).await
}

/// Removes what no active sandbox other than this one needs any more.
pub async fn release(
    store: &impl Store,
    networks: &impl Networks,
    infra: &impl SharedInfrastructure,
    job: Job,
) -> Result<InfraOutput, StepError> {
    if job.account_id.is_none() {
        return Ok(InfraOutput::nothing());
    }
    let want = wanted(store, &job, Some(&job.sandbox_id)).await?;
    converge(store, networks, infra, &job, want, Network::Existing).await
}

/// Whether converging may create the account's network, or uses only what exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Network {
    Ensure,
    Existing,
}

async fn converge(
    store: &impl Store,
    networks: &impl Networks,
    infra: &impl SharedInfrastructure,
    job: &Job,
    want: Want,
    network: Network,
) -> Result<InfraOutput, StepError> {
    let verb = match network {
        Network::Ensure => "ensure",
        Network::Existing => "release",
    };
    let account = job.account()?;
    lock::ensure_held(store, job, account).await?;
    let started_at = chrono::Utc::now();
    let owner = job.account_owner(account);
    let network = match network {
        Network::Ensure => Some(networks.ensure_account_network(account, &owner).await?),
        Network::Existing => networks.account_network(account, &owner).await?,
    };
    let done = infra
        .converge(
            account,
            &owner,
            network.as_ref(),
            want,
            &job.client_token("infra"),
        )
        .await?;
    let mut action = format!(
        "{verb}: {}",
        if done.changes.is_empty() {
            "nothing".to_owned()
        } else {
            done.changes.join(", ")
        }
    );
    if !done.waiting.is_empty() {
        action.push_str(&format!("; waiting: {}", done.waiting.join(", ")));
    }
    let change = InfraChange {
        account_id: account.to_owned(),
        owner: job.execution.clone(),
        action,
        started_at,
        ended_at: chrono::Utc::now(),
    };
    store.record_infra_change(&change).await?;
    tracing::info!(account, action = %change.action, "infrastructure converged");
    Ok(InfraOutput {
        settled: done.settled(),
        changes: done.changes,
        waiting: done.waiting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::test_job as job;
    use sbx_fakes::{ACCOUNT, FakeAws, FakeStore};
    use sbx_lifecycle::{SandboxOptions, State};
    use std::time::Duration;

    fn amq() -> SandboxOptions {
        SandboxOptions {
            amq: true,
            ..SandboxOptions::default()
        }
    }

    /// A store where this job (`s1`) holds the account lock.
    fn locked_by_the_job() -> FakeStore {
        let store = FakeStore::default();
        store.hold(&Job::lock_name(ACCOUNT), "arn:exec:1");
        store
    }

    fn vpc_creates(aws: &FakeAws) -> usize {
        let changes = &aws.state().changes;
        changes.iter().filter(|c| c.starts_with("CreateVpc")).count()
    }

    #[tokio::test]
    async fn a_vpc_not_seen_after_a_recent_create_is_waited_for_not_made_again() {
        let (store, aws) = (locked_by_the_job(), FakeAws::default());
        let create = job("create", Some(ACCOUNT));
        let window = Duration::from_secs(60);
        let first = ensure(&store, &aws, &aws, create.clone(), window).await;
        assert!(first.is_ok(), "{first:?}");
        // A describe that misses the new VPC: the retry sees no network.
        aws.state().account_networks.clear();
        let again = ensure(&store, &aws, &aws, create.clone(), window).await;
        assert!(
            matches!(&again, Err(StepError::NotYet(m)) if m.contains("not visible yet")),
            "{again:?}"
        );
        assert_eq!(vpc_creates(&aws), 1, "no second VPC within the window");
        // Past the window (the lease ran out), a VPC still not seen is made.
        store.hold_until(
            &format!("vpc-create:{ACCOUNT}"),
            "the first create",
            chrono::Utc::now() - chrono::Duration::seconds(1),
        );
        let later = ensure(&store, &aws, &aws, create, window).await;
        assert!(later.is_ok(), "{later:?}");
        assert_eq!(vpc_creates(&aws), 2);
    }

    #[tokio::test]
    async fn ensuring_makes_what_the_job_needs_once_and_journals_it() {
        let (store, aws) = (locked_by_the_job(), FakeAws::default());
        let mut create = job("create", Some(ACCOUNT));
        create.options = amq();
        let first = ensure(&store, &aws, &aws, create.clone(), Duration::ZERO).await;
        assert_eq!(
            first.ok().map(|o| (o.settled, o.changes)),
            Some((true, vec!["created base".into(), "created nlb".into()]))
        );
        let again = ensure(&store, &aws, &aws, create, Duration::ZERO).await;
        assert_eq!(again.ok().map(|o| o.changes), Some(vec![]));
        // Both tries of this job send one token (a lost answer's repeat finds its NAT); it is
        // this job's, not another's.
        let tokens = aws.state().converge_tokens.clone();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0], tokens[1]);
        assert!(tokens[0].starts_with("s1-create-v2"), "{tokens:?}");
        assert_eq!(
            aws.state().account_networks.len(),
            1,
            "the account network is made once"
        );
        let journal = store.journal.lock().map(|j| j.clone()).unwrap_or_default();
        assert_eq!(journal.len(), 2);
        assert_eq!(journal[0].action, "ensure: created base, created nlb");
        assert_eq!(journal[1].action, "ensure: nothing");
        assert!(
            journal
                .iter()
                .all(|c| c.owner == "arn:exec:1" && c.started_at <= c.ended_at)
        );
    }

    #[tokio::test]
    async fn while_aws_is_still_changing_it_the_answer_is_not_settled_and_says_what_it_waits_for() {
        let (store, aws) = (locked_by_the_job(), FakeAws::default());
        aws.state().converging_for = 2;
        let create = job("create", Some(ACCOUNT));
        for _ in 0..2 {
            let out = ensure(&store, &aws, &aws, create.clone(), Duration::ZERO).await;
            let out = out.unwrap_or_else(|e| panic!("{e}"));
            assert!(!out.settled);
            assert_eq!(out.waiting, ["nat pending"]);
        }
        let out = ensure(&store, &aws, &aws, create, Duration::ZERO).await;
        assert_eq!(
            out.ok().map(|o| (o.settled, o.changes)),
            Some((true, vec!["created base".to_owned()]))
        );
        let journal = store.journal.lock().map(|j| j.clone()).unwrap_or_default();
        assert_eq!(journal[0].action, "ensure: nothing; waiting: nat pending");
        assert_eq!(journal[2].action, "ensure: created base");
    }

    #[tokio::test]
    async fn releasing_keeps_what_another_active_sandbox_needs() {
        let (store, aws) = (locked_by_the_job(), FakeAws::default());
        let mut create = job("create", Some(ACCOUNT));
        create.options = amq();
        assert!(ensure(&store, &aws, &aws, create, Duration::ZERO).await.is_ok());
        // Another sandbox of the tenant is running, without amq; a stopped one needs nothing.
        store.add("s2", State::Started, SandboxOptions::default());
        store.add("s3", State::Stopped, amq());
        let out = release(&store, &aws, &aws, job("stop", Some(ACCOUNT))).await;
        assert_eq!(out.ok().map(|o| o.changes), Some(vec!["deleted nlb".into()]));
        store.put_state("s2", State::Stopped);
        let out = release(&store, &aws, &aws, job("stop", Some(ACCOUNT))).await;
        assert_eq!(out.ok().map(|o| o.changes), Some(vec!["deleted base".into()]));
    }

    #[tokio::test]
    async fn without_the_lock_nothing_is_changed() {
        let (store, aws) = (FakeStore::default(), FakeAws::default());
        let out = ensure(&store, &aws, &aws, job("create", Some(ACCOUNT)), Duration::ZERO).await;
        assert!(matches!(out, Err(StepError::LockLost(_))), "{out:?}");
        store.hold(&Job::lock_name(ACCOUNT), "arn:exec:other");
        let out = release(&store, &aws, &aws, job("delete", Some(ACCOUNT))).await;
        assert!(
            matches!(&out, Err(StepError::LockLost(m)) if m.contains("arn:exec:other")),
            "{out:?}"
        );
        assert!(aws.state().changes.is_empty());
        assert!(store.journal.lock().map(|j| j.is_empty()).unwrap_or(false));
    }

    #[tokio::test]
    async fn releasing_before_an_account_or_a_network_creates_nothing() {
        let (store, aws) = (locked_by_the_job(), FakeAws::default());
        let none = release(&store, &aws, &aws, job("delete", None)).await;
        assert_eq!(none.ok().map(|o| o.changes), Some(vec![]));
        let no_network = release(&store, &aws, &aws, job("delete", Some(ACCOUNT))).await;
        assert_eq!(no_network.ok().map(|o| o.changes), Some(vec![]));
        assert!(
            aws.state().account_networks.is_empty(),
            "a release never makes the network"
        );
    }
}
