//! The HTTP API end to end, as a client sees it: `sbx-local up`'s local API gateway with its JWT
//! authorizer in front of the API functions, real tokens from moto's Cognito, the workflows
//! running on the local engine, and the answers checked against `infra/openapi.yaml`.
//!
//! A module per route (`token`, `create`, `list`, `sandbox`, `operations`, `extend`, `events`,
//! `accounts`, `gateway`, ...), each with a function per behaviour. The behaviours are listed
//! in [`BEHAVIOURS`], which [`coverage`] runs, each on a stack of its own, two at a time: each
//! must hold, and the statuses they see must be exactly those the document lists. The other modules
//! test what crosses routes: bad tokens, tenant isolation, the quota and idempotency keys
//! under concurrency, and schemathesis over the whole document.

mod accounts;
mod auth;
mod budget;
mod conditional;
mod coverage;
mod create;
mod events;
mod extend;
mod gateway;
mod idempotency;
mod isolation;
mod list;
mod notifications;
mod operations;
mod quota;
mod sandbox;
mod schedule;
mod schemathesis;
mod token;
mod webhooks;

use sbx_e2e::api::{Api, Reply};
use sbx_e2e::stack_with;
use sbx_stack::{LocalStack, Options};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

pub async fn stack(quota: u32) -> LocalStack {
    stack_with(Options {
        pool_size: 3,
        quota,
        ..Options::default()
    })
    .await
}

/// What a behaviour runs against: a stack with a quota of 3, its API, and the three users.
pub struct Ctx {
    pub stack: LocalStack,
    pub api: Api,
    /// Tenant `acme`.
    pub alice: String,
    /// Tenant `globex`.
    pub bob: String,
    /// An admin.
    pub olivia: String,
}

impl Ctx {
    pub async fn new() -> Self {
        let stack = stack(3).await;
        let api = Api::new(&stack);
        let (alice, bob, olivia) = (
            api.token("alice").await,
            api.token("bob").await,
            api.token("olivia").await,
        );
        Self {
            stack,
            api,
            alice,
            bob,
            olivia,
        }
    }

    /// A body over the API's 16 KiB limit.
    pub fn big() -> Value {
        json!({"name": "x".repeat(20_000)})
    }

    /// Creates alice's sandbox `name` with `amq`; returns its id.
    pub async fn create(&self, name: &str) -> String {
        let created = self
            .api
            .send(
                "POST",
                "/sandboxes",
                Some(&self.alice),
                Some(&json!({"name": name, "amq": true})),
            )
            .await;
        assert_eq!(created.status, 202, "{created:?}");
        created.body["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Creates alice's sandbox `name` and waits until it is started; returns its id.
    pub async fn started(&self, name: &str) -> String {
        let id = self.create(name).await;
        self.api.wait_for(&self.alice, &id, "started").await;
        id
    }
}

/// A behaviour: requests and what their answers must be, recorded in [`Seen`].
pub type Behaviour = for<'a> fn(&'a Ctx, &'a mut Seen) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// `module::behaviour` as a named [`Behaviour`].
macro_rules! behaviour {
    ($($path:ident)::+) => {
        (
            stringify!($($path)::+),
            (|ctx, seen| Box::pin($($path)::+(ctx, seen))) as $crate::Behaviour,
        )
    };
}

/// Every behaviour of the route modules.
pub const BEHAVIOURS: &[(&str, Behaviour)] = &[
    behaviour!(token::signs_in_and_refreshes),
    behaviour!(token::never_says_which_part_was_wrong),
    behaviour!(token::refuses_bodies_it_cannot_read),
    behaviour!(create::answers_202_with_the_record_and_its_location),
    behaviour!(create::refuses_a_bad_field_naming_it),
    behaviour!(create::refuses_what_is_not_the_callers_or_not_json),
    behaviour!(create::replays_a_key_and_refuses_its_reuse),
    behaviour!(create::stops_at_the_quota_until_a_delete),
    behaviour!(list::pages_with_signed_tokens),
    behaviour!(list::refuses_bad_queries_and_other_tenants),
    behaviour!(list::admins_name_the_tenant),
    behaviour!(sandbox::answers_the_record_or_not_found),
    behaviour!(sandbox::says_the_progress_of_a_running_operation),
    behaviour!(operations::stop_and_start_refuse_a_second_request),
    behaviour!(operations::delete_refuses_a_second_request_and_any_extension),
    behaviour!(operations::a_repeat_starts_what_the_first_try_never_started),
    behaviour!(extend::sets_the_expiry_within_the_lifetime),
    behaviour!(extend::refuses_what_it_cannot_read),
    behaviour!(events::the_trail_has_an_event_per_version),
    behaviour!(schedule::sets_and_removes_a_schedule),
    behaviour!(conditional::unchanged_answers_are_not_sent_again),
    behaviour!(accounts::admins_list_and_filter_accounts),
    behaviour!(accounts::admins_add_and_read_accounts),
    behaviour!(accounts::admins_read_the_trail_and_send_a_quarantined_account_back),
    behaviour!(gateway::no_route_no_function),
    behaviour!(webhooks::registers_lists_rotates_and_removes),
    behaviour!(webhooks::refuses_private_addresses_and_bad_registrations),
    behaviour!(webhooks::logs_deliveries_and_redelivers),
    behaviour!(notifications::members_read_and_set_their_own_thresholds),
    behaviour!(budget::admins_set_budgets_and_a_create_over_one_is_refused),
];

/// What the behaviours saw: every (route, status) pair.
#[derive(Default)]
pub struct Seen(pub BTreeSet<(String, u16)>);

impl Seen {
    /// Records the answer to `route` and checks its form: problem details for the functions'
    /// errors, `{"message"}` for the gateway's 401.
    pub fn see(&mut self, route: &str, reply: &Reply) -> Reply {
        if reply.status >= 400 {
            let gateway = reply.content_type == "application/json" && reply.body.get("message").is_some();
            assert!(
                gateway && matches!(reply.status, 401 | 413)
                    || reply.content_type == "application/problem+json",
                "{route}: {reply:?}"
            );
            if reply.content_type == "application/problem+json" {
                assert_eq!(reply.body["status"], reply.status, "{route}: {reply:?}");
                assert!(
                    reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                    "{route}: {reply:?}"
                );
            }
        }
        self.0.insert((route.to_owned(), reply.status));
        reply.clone()
    }

    /// Records the answer to `route` and asserts its status.
    pub fn expect(&mut self, route: &str, reply: Reply, status: u16) -> Reply {
        let reply = self.see(route, &reply);
        assert_eq!(reply.status, status, "{route}: {reply:?}");
        reply
    }

    /// What every `/sandboxes/{id}` route answers besides its own: 404 to another tenant (for
    /// the owner's sandbox), 403 to a member naming a tenant, 400 to an unknown parameter, 401
    /// without a token.
    pub async fn refusals(&mut self, ctx: &Ctx, route: &str, path: &str, body: Option<&Value>) {
        let method = route.split(' ').next().unwrap_or_default();
        for (path, token, status) in [
            (path.to_owned(), Some(&ctx.bob), 404),
            (format!("{path}?tenant=acme"), Some(&ctx.bob), 403),
            (format!("{path}?x=1"), Some(&ctx.alice), 400),
            (path.to_owned(), None, 401),
        ] {
            let reply = ctx.api.send(method, &path, token.map(String::as_str), body).await;
            self.expect(route, reply, status);
        }
    }
}
