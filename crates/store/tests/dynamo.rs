//! The store against a real moto server over HTTP: races, quota, locks, pagination.

use aws_sdk_dynamodb::Client;
use chrono::{Duration as Days, Utc};
use futures::future::join_all;
use sbx_lifecycle::{NewSandbox, Operation, Outcome, Refused, SandboxOptions, State};
use sbx_moto::MotoServer;
use sbx_store::schema::{self, TableNames};
use sbx_store::{DynamoStore, ListQuery, LockStore, ManualClock, SandboxStore, StoreConfig, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Harness {
    store: DynamoStore,
    client: Client,
    names: TableNames,
    // Dropped last: stops the server.
    moto: MotoServer,
}

async fn harness(quota: u32) -> Result<Harness, Box<dyn std::error::Error>> {
    let moto = MotoServer::start()?;
    let client = Client::new(&moto.sdk_config().await);
    let names = TableNames::with_prefix("sbx-");
    schema::create_tables(&client, &names).await?;
    let config = StoreConfig {
        quota,
        ..StoreConfig::new(names.clone())
    };
    Ok(Harness {
        store: DynamoStore::new(client.clone(), config),
        client,
        names,
        moto,
    })
}

fn new_sandbox(tenant: &str, id: &str) -> NewSandbox {
    NewSandbox {
        tenant: tenant.into(),
        id: id.into(),
        name: format!("name of {id}"),
        options: SandboxOptions::default(),
        expires_at: Utc::now() + Days::hours(8),
    }
}

/// Creates a sandbox and finishes its create successfully: it is `started`, at version 2.
async fn started(store: &DynamoStore, tenant: &str, id: &str) -> Result<(), StoreError> {
    store.create(new_sandbox(tenant, id), None).await?;
    store
        .finish(tenant, id, Operation::Create, 1, Outcome::Succeeded)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_racers_on_one_transition_have_exactly_one_winner() -> TestResult {
    let h = harness(10).await?;
    started(&h.store, "acme", "sbx-race").await?;
    let before = h.store.events("acme", "sbx-race", 0).await?.len();

    let racers = (0..50).map(|_| {
        let store = h.store.clone();
        tokio::spawn(async move { store.begin("acme", "sbx-race", Operation::Stop).await })
    });
    let results: Vec<_> = join_all(racers).await.into_iter().collect::<Result<_, _>>()?;

    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one racer moves the sandbox");
    assert_eq!((winners[0].state, winners[0].version), (State::Stopping, 3));
    for result in results.iter().filter(|r| r.is_err()) {
        match result {
            Err(StoreError::Conflict(refused)) => assert_eq!(
                *refused,
                Refused {
                    operation: Operation::Stop,
                    current: State::Stopping
                }
            ),
            other => panic!("a loser must get Conflict naming the current state, got {other:?}"),
        }
    }

    let events = h.store.events("acme", "sbx-race", 0).await?;
    assert_eq!(
        events.len(),
        before + 1,
        "the audit trail has exactly one new event"
    );
    let last = &events[events.len() - 1];
    assert_eq!(
        (last.from, last.to, last.seq),
        (Some(State::Started), State::Stopping, 3)
    );
    assert_eq!(h.store.get("acme", "sbx-race").await?.state, State::Stopping);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_creates_against_a_quota_of_five_make_five_sandboxes() -> TestResult {
    let h = harness(5).await?;
    let creates = (0..100).map(|i| {
        let store = h.store.clone();
        tokio::spawn(async move {
            store
                .create(new_sandbox("acme", &format!("sbx-{i:03}")), None)
                .await
        })
    });
    let results: Vec<_> = join_all(creates).await.into_iter().collect::<Result<_, _>>()?;

    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 5);
    for result in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(result, Err(StoreError::QuotaExceeded { limit: 5 })),
            "over quota is QuotaExceeded, got {result:?}"
        );
    }
    let listed = h.store.list("acme", &ListQuery::default()).await?;
    assert_eq!(listed.items.len(), 5, "exactly five records exist");
    assert_eq!(h.store.live_count("acme").await?, 5);

    // Deleting one frees one slot, and only one.
    let victim = listed.items[0].id.clone();
    h.store
        .finish("acme", &victim, Operation::Create, 1, Outcome::Succeeded)
        .await?;
    let deleting = h.store.begin("acme", &victim, Operation::Delete).await?;
    assert_eq!(
        h.store.live_count("acme").await?,
        5,
        "a deleting sandbox still counts"
    );
    h.store
        .finish(
            "acme",
            &victim,
            Operation::Delete,
            deleting.version,
            Outcome::Succeeded,
        )
        .await?;
    assert_eq!(h.store.live_count("acme").await?, 4);
    h.store.create(new_sandbox("acme", "sbx-late-1"), None).await?;
    let over = h.store.create(new_sandbox("acme", "sbx-late-2"), None).await;
    assert!(matches!(over, Err(StoreError::QuotaExceeded { .. })), "{over:?}");
    assert!(matches!(
        h.store.get("acme", "sbx-late-2").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(h.store.live_count("acme").await?, 5);

    // Another tenant has a quota of its own.
    h.store.create(new_sandbox("globex", "sbx-g"), None).await?;
    assert_eq!(h.store.live_count("globex").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_refused_create_writes_nothing_and_an_idempotency_key_replays() -> TestResult {
    let h = harness(3).await?;
    let first = h
        .store
        .create(new_sandbox("acme", "sbx-1"), Some("key-1"))
        .await?;
    assert!(!first.replayed);

    // Same key, same request (another generated id): the first result, nothing new.
    let mut repeat = new_sandbox("acme", "sbx-2");
    repeat.name = first.sandbox.name.clone();
    let again = h.store.create(repeat, Some("key-1")).await?;
    assert!(again.replayed);
    assert_eq!(again.sandbox, first.sandbox);
    assert!(matches!(
        h.store.get("acme", "sbx-2").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(h.store.live_count("acme").await?, 1);

    // Same key, another request: refused.
    let mut other = new_sandbox("acme", "sbx-3");
    other.name = "something else".into();
    let reused = h.store.create(other, Some("key-1")).await;
    assert!(
        matches!(reused, Err(StoreError::IdempotencyKeyReused)),
        "{reused:?}"
    );

    // The key belongs to its tenant: another tenant may use the same one.
    let theirs = h
        .store
        .create(new_sandbox("globex", "sbx-1"), Some("key-1"))
        .await?;
    assert!(!theirs.replayed);

    // An existing id is refused and changes neither the counter nor the audit trail.
    let duplicate = h.store.create(new_sandbox("acme", "sbx-1"), None).await;
    assert!(
        matches!(duplicate, Err(StoreError::AlreadyExists { .. })),
        "{duplicate:?}"
    );
    assert_eq!(h.store.live_count("acme").await?, 1);
    assert_eq!(h.store.events("acme", "sbx-1", 0).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn operations_record_their_outcome_and_audit_trail() -> TestResult {
    let h = harness(3).await?;
    started(&h.store, "acme", "sbx-1").await?;
    let stopping = h.store.begin("acme", "sbx-1", Operation::Stop).await?;
    let failed = h
        .store
        .finish(
            "acme",
            "sbx-1",
            Operation::Stop,
            stopping.version,
            Outcome::Failed {
                error: "Sbx.Transient".into(),
                cause: "StopInstances throttled".into(),
            },
        )
        .await?;
    assert_eq!(failed.state, State::Failed);
    let failure = failed
        .failure
        .clone()
        .ok_or("a failed record names its failure")?;
    assert_eq!(
        (failure.operation, failure.error.as_str(), failure.cause.as_str()),
        (Operation::Stop, "Sbx.Transient", "StopInstances throttled")
    );

    // Repeating the same finish (a retried step) returns the record; another one is refused.
    let repeated = h
        .store
        .finish(
            "acme",
            "sbx-1",
            Operation::Stop,
            stopping.version,
            Outcome::Failed {
                error: "Sbx.Transient".into(),
                cause: "StopInstances throttled".into(),
            },
        )
        .await?;
    assert_eq!(repeated, failed);
    let stale = h
        .store
        .finish(
            "acme",
            "sbx-1",
            Operation::Stop,
            stopping.version,
            Outcome::Succeeded,
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");

    // After a failed stop, start is allowed; stop is not.
    let refused = h.store.begin("acme", "sbx-1", Operation::Stop).await;
    assert!(matches!(
        refused,
        Err(StoreError::Conflict(Refused {
            current: State::Failed,
            ..
        }))
    ));
    let starting = h.store.begin("acme", "sbx-1", Operation::Start).await?;
    assert_eq!(starting.failure, None);
    h.store
        .finish(
            "acme",
            "sbx-1",
            Operation::Start,
            starting.version,
            Outcome::Succeeded,
        )
        .await?;

    let trail: Vec<_> = h
        .store
        .events("acme", "sbx-1", 0)
        .await?
        .into_iter()
        .map(|e| (e.seq, e.operation, e.from, e.to, e.error))
        .collect();
    assert_eq!(
        trail,
        [
            (1, Operation::Create, None, State::Initializing, None),
            (
                2,
                Operation::Create,
                Some(State::Initializing),
                State::Started,
                None
            ),
            (3, Operation::Stop, Some(State::Started), State::Stopping, None),
            (
                4,
                Operation::Stop,
                Some(State::Stopping),
                State::Failed,
                Some("Sbx.Transient".into())
            ),
            (5, Operation::Start, Some(State::Failed), State::Starting, None),
            (6, Operation::Start, Some(State::Starting), State::Started, None),
        ]
    );
    // A reader that has the trail up to an event reads only the newer ones.
    let newer: Vec<u64> = h
        .store
        .events("acme", "sbx-1", 4)
        .await?
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(newer, [5, 6]);
    assert!(h.store.events("acme", "sbx-1", 6).await?.is_empty());

    // Nobody reads across tenants, even with the right id.
    assert!(matches!(
        h.store.get("globex", "sbx-1").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(h.store.events("globex", "sbx-1", 0).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_deleted_record_leaves_the_expiry_index_and_gets_a_ttl() -> TestResult {
    let h = harness(3).await?;
    started(&h.store, "acme", "sbx-keep").await?;
    started(&h.store, "acme", "sbx-gone").await?;
    let deleting = h.store.begin("acme", "sbx-gone", Operation::Delete).await?;
    let deleted = h
        .store
        .finish(
            "acme",
            "sbx-gone",
            Operation::Delete,
            deleting.version,
            Outcome::Succeeded,
        )
        .await?;
    assert_eq!(deleted.state, State::Deleted);

    let live = h
        .client
        .query()
        .table_name(&h.names.sandboxes)
        .index_name(schema::BY_EXPIRY)
        .key_condition_expression("#live = :live AND #exp <= :until")
        .expression_attribute_names("#live", "live")
        .expression_attribute_names("#exp", "expires_at")
        .expression_attribute_values(":live", aws_sdk_dynamodb::types::AttributeValue::S("live".into()))
        .expression_attribute_values(
            ":until",
            aws_sdk_dynamodb::types::AttributeValue::S("9999-12-31T00:00:00.000Z".into()),
        )
        .send()
        .await?;
    let ids: Vec<_> = live
        .items()
        .iter()
        .filter_map(|item| item.get("id").and_then(|id| id.as_s().ok()).cloned())
        .collect();
    assert_eq!(
        ids,
        ["sbx-keep"],
        "only live sandboxes are in the sparse expiry index"
    );

    let raw = h
        .client
        .get_item()
        .table_name(&h.names.sandboxes)
        .key(
            "tenant",
            aws_sdk_dynamodb::types::AttributeValue::S("acme".into()),
        )
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("sbx-gone".into()),
        )
        .send()
        .await?;
    let item = raw.item().ok_or("the deleted record is kept for audit")?;
    let ttl: i64 = item
        .get("ttl")
        .and_then(|v| v.as_n().ok())
        .ok_or("a TTL")?
        .parse()?;
    let expected = (deleted.updated_at + Days::days(90)).timestamp();
    assert_eq!(ttl, expected);
    Ok(())
}

#[tokio::test]
async fn pagination_returns_every_record_of_a_tenant_exactly_once() -> TestResult {
    let h = harness(50).await?;
    for i in 0..23 {
        started(&h.store, "acme", &format!("sbx-a{i:02}")).await?;
    }
    for i in 0..7 {
        started(&h.store, "globex", &format!("sbx-g{i:02}")).await?;
    }
    for i in (0..23).step_by(3) {
        h.store
            .begin("acme", &format!("sbx-a{i:02}"), Operation::Stop)
            .await?;
    }

    for (state, expected) in [(None, 23), (Some(State::Stopping), 8), (Some(State::Started), 15)] {
        let mut seen = Vec::new();
        let mut query = ListQuery {
            state,
            limit: 5,
            next_token: None,
        };
        let mut pages = 0;
        loop {
            let page = h.store.list("acme", &query).await?;
            pages += 1;
            assert!(page.items.len() <= 5);
            for sandbox in &page.items {
                assert_eq!(sandbox.tenant, "acme");
                if let Some(state) = state {
                    assert_eq!(sandbox.state, state);
                }
            }
            seen.extend(page.items.into_iter().map(|s| s.id));
            match page.next_token {
                Some(token) => query.next_token = Some(token),
                None => break,
            }
            assert!(pages < 20, "pagination must end");
        }
        let unique: BTreeSet<_> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), expected, "{state:?}: every record once");
        assert_eq!(unique.len(), expected, "{state:?}: no record twice");
        assert!(
            seen.iter().all(|id| id.starts_with("sbx-a")),
            "none of another tenant's"
        );
    }

    // A token is bound to its tenant and query.
    let page = h
        .store
        .list(
            "acme",
            &ListQuery {
                limit: 5,
                ..ListQuery::default()
            },
        )
        .await?;
    let token = page.next_token.ok_or("more than one page")?;
    let foreign = ListQuery {
        next_token: Some(token),
        ..ListQuery::default()
    };
    assert!(matches!(
        h.store.list("globex", &foreign).await,
        Err(StoreError::InvalidPageToken)
    ));
    assert!(matches!(
        h.store
            .list(
                "acme",
                &ListQuery {
                    next_token: Some("not-a-token".into()),
                    ..ListQuery::default()
                }
            )
            .await,
        Err(StoreError::InvalidPageToken)
    ));
    Ok(())
}

#[tokio::test]
async fn a_lease_is_held_by_one_owner_released_by_it_and_reclaimable_after_expiry() -> TestResult {
    let h = harness(3).await?;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let store = h.store.clone().with_clock(clock.clone());
    let lease = Duration::from_secs(60);

    let a = store.acquire("account-1", "exec-a", lease).await?;
    assert_eq!(a.owner, "exec-a");
    match store.acquire("account-1", "exec-b", lease).await {
        Err(StoreError::LockHeld { owner, until, .. }) => {
            assert_eq!((owner.as_str(), until), ("exec-a", a.expires_at));
        }
        other => panic!("a held lock is refused, got {other:?}"),
    }
    // The owner may extend its own lease; another lock is independent.
    store.acquire("account-1", "exec-a", lease).await?;
    store.acquire("account-2", "exec-b", lease).await?;

    match store.release("account-1", "exec-b").await {
        Err(StoreError::NotLockOwner { holder, .. }) => assert_eq!(holder, "exec-a"),
        other => panic!("release by a non-owner is refused, got {other:?}"),
    }
    assert_eq!(
        store.holder("account-1").await?.map(|l| l.owner).as_deref(),
        Some("exec-a")
    );

    // exec-a dies; once its lease has expired, exec-b takes the lock over.
    clock.advance(Days::seconds(61));
    let b = store.acquire("account-1", "exec-b", lease).await?;
    assert_eq!(b.owner, "exec-b");
    assert!(matches!(
        store.release("account-1", "exec-a").await,
        Err(StoreError::NotLockOwner { .. })
    ));
    store.release("account-1", "exec-b").await?;
    assert_eq!(store.holder("account-1").await?, None);
    // Releasing a free lock is harmless: every path may release.
    store.release("account-1", "exec-b").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lock_holders_never_overlap() -> TestResult {
    let h = harness(3).await?;
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let workers = (0..8).map(|worker| {
        let store = h.store.clone();
        let (inside, overlaps) = (inside.clone(), overlaps.clone());
        tokio::spawn(async move {
            let owner = format!("exec-{worker}");
            for _ in 0..3 {
                loop {
                    match store.acquire("account-1", &owner, Duration::from_secs(60)).await {
                        Ok(_) => break,
                        Err(StoreError::LockHeld { .. }) => tokio::task::yield_now().await,
                        Err(other) => return Err(other),
                    }
                }
                if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                // Some work under the lock: a read of the store.
                store.holder("account-1").await?;
                inside.fetch_sub(1, Ordering::SeqCst);
                store.release("account-1", &owner).await?;
            }
            Ok::<_, StoreError>(())
        })
    });
    for result in join_all(workers).await {
        result??;
    }
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two holders held the lock at once"
    );
    assert_eq!(h.store.holder("account-1").await?, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_allocations_give_each_tenant_one_account_and_no_account_two_tenants() -> TestResult {
    use sbx_store::{AccountState, AccountStore};
    let h = harness(5).await?;
    for account in ["100000000001", "100000000002", "100000000003"] {
        h.store.add_to_pool(account).await?;
    }
    // Six tenants, each asking three times at once, for a pool of three accounts.
    let tenants: Vec<String> = (0..6).map(|i| format!("tenant-{i}")).collect();
    let results = join_all(
        tenants
            .iter()
            .flat_map(|tenant| std::iter::repeat_n(tenant.clone(), 3))
            .map(|tenant| {
                let store = h.store.clone();
                async move { (tenant.clone(), store.allocate(&tenant).await) }
            }),
    )
    .await;
    let mut by_tenant: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    let mut exhausted = BTreeSet::new();
    for (tenant, result) in results {
        match result {
            Ok(account) => {
                assert_eq!(account.state, AccountState::Assigned);
                assert_eq!(account.tenant.as_deref(), Some(tenant.as_str()));
                by_tenant.entry(tenant).or_default().insert(account.account_id);
            }
            Err(StoreError::PoolExhausted) => {
                exhausted.insert(tenant);
            }
            Err(other) => return Err(other.into()),
        }
    }
    assert_eq!(
        by_tenant.len(),
        3,
        "three tenants got the three accounts: {by_tenant:?}"
    );
    for (tenant, accounts) in &by_tenant {
        assert_eq!(
            accounts.len(),
            1,
            "{tenant} got one account, however often it asked"
        );
        assert!(
            !exhausted.contains(tenant),
            "{tenant} got an account and was refused one"
        );
    }
    let assigned: BTreeSet<&String> = by_tenant.values().flatten().collect();
    assert_eq!(assigned.len(), 3, "no account serves two tenants");
    assert_eq!(exhausted.len(), 3);

    // Expiring the account keeps it the tenant's until it is cleaned; asking again takes it back.
    let (tenant, accounts) = by_tenant.iter().next().ok_or("no tenant")?;
    let account = accounts.iter().next().ok_or("no account")?;
    assert_eq!(
        h.store.expire(tenant, account).await?.state,
        AccountState::Expired
    );
    assert_eq!(&h.store.allocate(tenant).await?.account_id, account);
    assert!(h.store.accounts(AccountState::Pool, 10).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_expiry_changes_without_a_new_version_until_the_sandbox_is_deleted() -> TestResult {
    let h = harness(5).await?;
    started(&h.store, "acme", "sb-1").await?;
    let later = Utc::now() + Days::hours(30);
    let extended = h.store.extend("acme", "sb-1", later).await?;
    assert_eq!(extended.version, 2, "a running operation's finish still matches");
    assert_eq!(
        extended.expires_at,
        sbx_lifecycle::rfc3339_millis::truncate(later)
    );
    assert_eq!(h.store.get("acme", "sb-1").await?, extended);
    assert!(matches!(
        h.store.extend("globex", "sb-1", later).await,
        Err(StoreError::NotFound { .. })
    ));
    h.store.begin("acme", "sb-1", Operation::Delete).await?;
    assert!(matches!(
        h.store.extend("acme", "sb-1", later).await,
        Err(StoreError::NotExtendable {
            state: State::Deleting,
            ..
        })
    ));
    assert_eq!(h.store.get("acme", "sb-1").await?.expires_at, extended.expires_at);
    Ok(())
}

#[tokio::test]
async fn an_account_goes_round_the_pool_with_an_audit_event_per_change() -> TestResult {
    use sbx_store::{AccountChange, AccountState, AccountStore};
    let h = harness(5).await?;
    let account = "100000000001";
    h.store.add_to_pool(account).await?;
    assert_eq!(h.store.allocate("acme").await?.account_id, account);
    h.store.expire("acme", account).await?;
    h.store
        .change_account(account, AccountChange::BeginCleaning)
        .await?;
    // Cleaning ends the assignment: the tenant's next allocation finds the pool empty.
    assert!(h.store.tenant_account("acme").await?.is_none());
    assert!(matches!(
        h.store.allocate("acme").await,
        Err(StoreError::PoolExhausted)
    ));
    // A second sweep cannot begin the same cleaning.
    let again = h
        .store
        .change_account(account, AccountChange::BeginCleaning)
        .await;
    assert!(
        matches!(
            again,
            Err(StoreError::AccountUnavailable {
                state: AccountState::Cleaning,
                ..
            })
        ),
        "{again:?}"
    );
    h.store.change_account(account, AccountChange::Cleaned).await?;
    let back = h.store.change_account(account, AccountChange::Release).await?;
    assert_eq!(
        (back.state, back.tenant.as_deref(), back.version),
        (AccountState::Pool, None, 6)
    );
    assert_eq!(h.store.allocate("globex").await?.account_id, account);
    let trail: Vec<String> = h
        .store
        .account_events(account, 0)
        .await?
        .into_iter()
        .map(|e| format!("{}:{}", e.seq, e.change))
        .collect();
    assert_eq!(
        trail,
        [
            "1:add",
            "2:assign",
            "3:expire",
            "4:begin-cleaning",
            "5:cleaned",
            "6:release",
            "7:assign"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn sweeps_read_only_what_is_due_or_in_the_state_asked_for() -> TestResult {
    use sbx_store::Sweeps;
    let h = harness(50).await?;
    for i in 0..10 {
        let mut new = new_sandbox("acme", &format!("sb-{i}"));
        new.expires_at = Utc::now() + Days::minutes(i64::from(i) * 60 - 290);
        h.store.create(new, None).await?;
        if i % 2 == 0 {
            h.store
                .finish(
                    "acme",
                    &format!("sb-{i}"),
                    Operation::Create,
                    1,
                    Outcome::Succeeded,
                )
                .await?;
        }
    }
    let due = h.store.due(Utc::now(), 100).await?;
    let ids: BTreeSet<String> = due.items.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(due.read, 5, "the sweep read nothing that is not due");
    let limited = h.store.due(Utc::now(), 2).await?;
    assert_eq!((limited.items.len(), limited.read), (2, 2));
    let initializing = h.store.in_state(State::Initializing, 100).await?;
    assert_eq!((initializing.items.len(), initializing.read), (5, 5));
    Ok(())
}

#[tokio::test]
async fn only_an_expired_lease_is_removed_and_only_once() -> TestResult {
    let h = harness(5).await?;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let locks = h
        .store
        .locks()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_clock(clock.clone());
    let lease = locks
        .acquire("100000000001", "exec-1", Duration::from_secs(60))
        .await?;
    assert!(!locks.remove_expired(&lease).await?, "a running lease stays");
    clock.advance(Days::seconds(61));
    assert!(locks.remove_expired(&lease).await?);
    assert!(!locks.remove_expired(&lease).await?, "removed once");
    assert!(locks.holder("100000000001").await?.is_none());
    // A lease taken over after expiry is not the expired one.
    let first = locks
        .acquire("100000000001", "exec-1", Duration::from_secs(60))
        .await?;
    clock.advance(Days::seconds(61));
    locks
        .acquire("100000000001", "exec-2", Duration::from_secs(60))
        .await?;
    clock.advance(Days::seconds(61));
    assert!(!locks.remove_expired(&first).await?);
    Ok(())
}

#[tokio::test]
async fn a_change_of_state_keeps_what_other_writers_set_meanwhile() -> TestResult {
    let h = harness(3).await?;
    started(&h.store, "acme", "sbx-1").await?;
    let stopping = h.store.begin("acme", "sbx-1", Operation::Stop).await?;
    // While the stop runs, the tenant extends the sandbox; neither write changes the version.
    let later = stopping.expires_at + chrono::Duration::days(3);
    h.store.extend("acme", "sbx-1", later).await?;
    h.store
        .finish(
            "acme",
            "sbx-1",
            Operation::Stop,
            stopping.version,
            Outcome::Succeeded,
        )
        .await?;
    let record = h.store.get("acme", "sbx-1").await?;
    assert_eq!(record.state, State::Stopped);
    assert_eq!(
        record.expires_at, later,
        "the finish did not put back the expiry it read"
    );
    assert_eq!(record.account_id, stopping.account_id);
    Ok(())
}

#[tokio::test]
async fn an_operators_begin_repeated_after_a_lost_answer_finds_itself() -> TestResult {
    let h = harness(3).await?;
    started(&h.store, "acme", "sbx-1").await?;
    let first = h
        .store
        .begin_as("acme", "sbx-1", Operation::Stop, "ops-stop-1")
        .await?;
    assert_eq!(
        first.execution.as_deref(),
        Some("ops-stop-1"),
        "named in the same write"
    );
    let again = h
        .store
        .begin_as("acme", "sbx-1", Operation::Stop, "ops-stop-1")
        .await?;
    assert_eq!(again.version, first.version, "found begun, not begun twice");
    let other = h
        .store
        .begin_as("acme", "sbx-1", Operation::Stop, "ops-stop-2")
        .await;
    assert!(matches!(other, Err(StoreError::Conflict(_))), "{other:?}");
    assert_eq!(
        h.store.events("acme", "sbx-1", 0).await?.len(),
        first.version as usize
    );
    Ok(())
}

/// Answers every TransactWriteItems that reached the server with a 500 instead of its own
/// answer: the call takes effect and its client is told it failed, on every SDK attempt.
#[derive(Debug)]
struct LoseTransactionAnswers;

impl aws_smithy_runtime_api::client::interceptors::Intercept for LoseTransactionAnswers {
    fn name(&self) -> &'static str {
        "LoseTransactionAnswers"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let operation = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>();
        if operation.is_some_and(|m| m.name() == "TransactWriteItems") {
            let response = context.response_mut();
            *response.status_mut() = 500.try_into()?;
            *response.body_mut() = aws_smithy_types::body::SdkBody::from("");
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_change_whose_every_answer_was_lost_is_found_applied() -> TestResult {
    let h = harness(3).await?;
    started(&h.store, "acme", "sbx-1").await?;
    let config = aws_sdk_dynamodb::config::Builder::from(&h.moto.sdk_config().await)
        .interceptor(LoseTransactionAnswers)
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_initial_backoff(std::time::Duration::from_millis(10)),
        )
        .build();
    let quota = StoreConfig {
        quota: 3,
        ..StoreConfig::new(h.names.clone())
    };
    let losing = DynamoStore::new(Client::from_conf(config), quota);
    let stopping = losing.begin("acme", "sbx-1", Operation::Stop).await?;
    assert_eq!(stopping.state, State::Stopping);
    let record = h.store.get("acme", "sbx-1").await?;
    assert_eq!(
        (record.state, record.version),
        (State::Stopping, stopping.version)
    );
    assert_eq!(
        h.store.events("acme", "sbx-1", 0).await?.len(),
        3,
        "one event per change"
    );
    assert_eq!(
        losing
            .finish(
                "acme",
                "sbx-1",
                Operation::Stop,
                stopping.version,
                Outcome::Succeeded
            )
            .await?
            .state,
        State::Stopped
    );
    // A change that did not apply (a create over the quota of 3, cancelled, its answer lost
    // too) stays an error and is not taken for one that did.
    for id in ["sbx-2", "sbx-3"] {
        h.store.create(new_sandbox("acme", id), None).await?;
    }
    let over = losing.create(new_sandbox("acme", "sbx-4"), None).await;
    assert!(over.is_err(), "{over:?}");
    assert!(matches!(
        h.store.get("acme", "sbx-4").await,
        Err(StoreError::NotFound { .. })
    ));
    Ok(())
}
