//! The `api-accounts` function: the account pool, for admins only.

use crate::caller::identify;
use crate::directory::Directory;
use crate::input;
use crate::problem::{Problem, json};
use crate::sandboxes::problem;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use sbx_store::{AccountState, AccountStore};
use serde::{Deserialize, Serialize};

const STATES: [AccountState; 4] = [
    AccountState::Pool,
    AccountState::Assigned,
    AccountState::Expired,
    AccountState::Quarantined,
];
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

pub struct Accounts<S, D> {
    pub store: S,
    pub directory: D,
}

/// An AWS account id: 12 digits.
fn valid_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

impl<S: AccountStore, D: Directory> Accounts<S, D> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.route(&request).await {
            Ok(response) => response,
            Err(problem) => problem.response(),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, Problem> {
        identify(request, &self.directory).await?.require_admin()?;
        match crate::route_key(request).as_deref() {
            Some("GET /accounts") => self.list(request).await,
            Some("POST /accounts") => self.add(request).await,
            Some("GET /accounts/{id}") => self.get(request).await,
            other => Err(crate::unknown_route(other)),
        }
    }

    async fn list(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let query = input::query(request, &["state", "limit"])?;
        let states = match query.get("state") {
            None => STATES.to_vec(),
            Some(text) => vec![STATES.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
                Problem::invalid(format!(
                    "state: one of pool, assigned, expired, quarantined, not {text:?}"
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
        input::query(request, &[])?;
        let id = input::path_id(request)?;
        if !valid_account_id(&id) {
            return Err(Problem::not_found(format!("account {id:?} not found")));
        }
        let account = self.store.account(&id).await.map_err(problem)?;
        Ok(json(StatusCode::OK, &account))
    }
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
