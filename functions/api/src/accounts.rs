//! The `api-accounts` function: the account pool, for admins only: the accounts by state,
//! one account (with what its sandboxes cost this month) and its audit trail, adding an
//! account, and sending a quarantined account back to cleaning. It also serves the tenants'
//! budgets ([`crate::budget`]), which members may read.

use crate::caller::identify;
use crate::directory::Directory;
use crate::input;
use crate::problem::{Problem, json};
use crate::store_errors::problem;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use sbx_lifecycle::cost::{self, Pricing};
use sbx_store::{
    AccountChange, AccountState, AccountStore, DriftStore, SandboxStore, SpendStore, StoreError,
};
use serde::{Deserialize, Serialize};

const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    pub account_id: String,
}

#[derive(Debug, Serialize)]
struct AccountList {
    items: Vec<sbx_store::Account>,
}

/// An account, with what its tenant's sandboxes there cost this month.
#[derive(Debug, Serialize)]
struct AccountView {
    #[serde(flatten)]
    account: sbx_store::Account,
    cost: AccountCost,
}

#[derive(Debug, Serialize)]
struct AccountCost {
    month: String,
    estimated_usd: cost::Usd,
}

#[derive(Debug, Serialize)]
struct AccountEventList {
    items: Vec<sbx_store::AccountEvent>,
}

pub struct Accounts<S, D> {
    pub store: S,
    pub directory: D,
    pub pricing: Pricing,
}

/// An AWS account id: 12 digits.
fn valid_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

impl<S: AccountStore + SandboxStore + SpendStore + DriftStore, D: Directory> Accounts<S, D> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let response = match self.route(&request).await {
            Ok(response) => response,
            Err(problem) => problem.response(),
        };
        crate::conditional::answer(&request, response)
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let caller = identify(request, &self.directory).await?;
        match crate::route_key(request).as_deref() {
            Some("GET /tenants/{id}/budget") => {
                return crate::budget::handle(&self.store, &self.pricing, &caller, request, false).await;
            }
            Some("PUT /tenants/{id}/budget") => {
                return crate::budget::handle(&self.store, &self.pricing, &caller, request, true).await;
            }
            _ => {}
        }
        caller.require_admin()?;
        match crate::route_key(request).as_deref() {
            Some("GET /accounts") => self.list(request).await,
            Some("POST /accounts") => self.add(request).await,
            Some("GET /accounts/{id}") => self.get(request).await,
            Some("GET /accounts/{id}/events") => self.events(request).await,
            Some("POST /accounts/{id}/clean") => self.clean(request).await,
            other => Err(crate::unknown_route(other)),
        }
    }

    async fn list(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let query = input::query(request, &["state", "limit"])?;
        let states = match query.get("state") {
            None => AccountState::ALL.to_vec(),
            Some(text) => vec![AccountState::parse(text).ok_or_else(|| {
                Problem::invalid(format!(
                    "state: one of pool, assigned, expired, cleaning, quarantined, not {text:?}"
                ))
            })?],
        };
        let limit = query.number("limit", 1..=MAX_LIMIT)?.unwrap_or(MAX_LIMIT) as usize;
        let mut items = Vec::new();
        for state in states {
            let left = limit - items.len();
            if left == 0 {
                break;
            }
            items.extend(self.store.accounts(state, left as i32).await.map_err(problem)?);
        }
        Ok(json(StatusCode::OK, &AccountList { items }))
    }

    async fn add(&self, request: &Request) -> Result<Response<Body>, Problem> {
        input::query(request, &[])?;
        let body: AddBody = input::json_body(request)?;
        if !valid_account_id(&body.account_id) {
            return Err(Problem::invalid("account_id: an AWS account id, 12 digits"));
        }
        // Adding an account that is known already leaves it as it is, and answers with it.
        let account = self.store.add_to_pool(&body.account_id).await.map_err(problem)?;
        Ok(json(StatusCode::OK, &account))
    }

    async fn get(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let id = target(request)?;
        let account = self.store.account(&id).await.map_err(problem)?;
        let month = cost::month_of(chrono::Utc::now());
        let spent = match &account.tenant {
            Some(tenant) => self
                .store
                .account_spend(tenant, &id, &month)
                .await
                .map_err(problem)?,
            None => cost::Usd::default(),
        };
        Ok(json(
            StatusCode::OK,
            &AccountView {
                account,
                cost: AccountCost {
                    month,
                    estimated_usd: spent,
                },
            },
        ))
    }

    async fn events(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let query = input::query(request, &["after"])?;
        let id = account_id(request)?;
        // Only the events after this one: a client that has the trail reads what is new.
        let after = query.number("after", 0..=u32::MAX)?.unwrap_or(0);
        // An unknown account is 404, not an empty trail.
        self.store.account(&id).await.map_err(problem)?;
        let items = self
            .store
            .account_events(&id, u64::from(after))
            .await
            .map_err(problem)?;
        Ok(json(StatusCode::OK, &AccountEventList { items }))
    }

    /// A quarantined account goes back to cleaning; the next sweep cleans it and takes the
    /// inventory again.
    async fn clean(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let id = target(request)?;
        let account = self.store.account(&id).await.map_err(problem)?;
        if account.state != AccountState::Quarantined {
            return Err(not_quarantined(&id, account.state));
        }
        match self
            .store
            .change_account_from(&account, AccountChange::BeginCleaning)
            .await
        {
            Ok(Some(account)) => Ok(json(StatusCode::OK, &account)),
            // A concurrent request sent it back first.
            Ok(None) => {
                let now = self.store.account(&id).await.map_err(problem)?;
                Err(not_quarantined(&id, now.state))
            }
            Err(StoreError::AccountUnavailable { state, .. }) => Err(not_quarantined(&id, state)),
            Err(err) => Err(problem(err)),
        }
    }
}

/// The account a `/accounts/{id}...` request is about; an id that cannot exist is not found.
fn target(request: &Request) -> Result<String, Problem> {
    input::query(request, &[])?;
    account_id(request)
}

/// The `{id}` of an `/accounts/{id}...` request.
fn account_id(request: &Request) -> Result<String, Problem> {
    let id = input::path_id(request)?;
    if !valid_account_id(&id) {
        return Err(Problem::not_found(format!("account {id:?} not found")));
    }
    Ok(id)
}

fn not_quarantined(id: &str, state: AccountState) -> Problem {
    Problem::new(
        crate::problem::Kind::InvalidTransition,
        format!("account {id} is {state}; only a quarantined account can be sent back to cleaning"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(super::valid_account_id("100000000001"));
        for bad in ["", "10000000000", "1000000000012", "10000000000a"] {
            assert!(!super::valid_account_id(bad), "{bad}");
        }
    }
}
