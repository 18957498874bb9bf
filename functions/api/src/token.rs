//! The `api-token` function: `POST /token`, sign-in with Cognito (USER_PASSWORD_AUTH, or
//! REFRESH_TOKEN_AUTH with a refresh token). It needs no bearer token.
//!
//! Wrong credentials are one answer, 401, whatever was wrong: an unknown user, a wrong password
//! or an expired refresh token look the same to the client.

use crate::input;
use crate::problem::{Kind, Problem, json};
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, SdkError};
use aws_sdk_cognitoidentityprovider::operation::initiate_auth::InitiateAuthError;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// The body of `POST /token`. Its `Debug` names which fields are set, never their secrets.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |field: &Option<String>| if field.is_some() { "<set>" } else { "<none>" };
        f.debug_struct("TokenBody")
            .field("username", &self.username)
            .field("password", &set(&self.password))
            .field("refresh_token", &set(&self.refresh_token))
            .finish()
    }
}

/// What a sign-in is made with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Password { username: String, password: String },
    Refresh { refresh_token: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { username, .. } => write!(f, "Password {{ username: {username:?}, .. }}"),
            Credentials::Refresh { .. } => f.write_str("Refresh { .. }"),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub expires_in: i32,
    pub token_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The credentials are not valid (whatever part of them).
    #[error("the credentials were refused")]
    Refused,
    #[error("too many sign-in attempts")]
    Throttled,
    #[error("Cognito InitiateAuth failed: {0}")]
    Failed(String),
}

pub trait Authenticator: Send + Sync {
    fn sign_in(&self, credentials: Credentials) -> impl Future<Output = Result<Tokens, SignInError>> + Send;
}

/// [`Authenticator`] on a Cognito app client without a secret.
#[derive(Debug, Clone)]
pub struct CognitoAuth {
    pub client: Client,
    pub client_id: String,
}

impl Authenticator for CognitoAuth {
    async fn sign_in(&self, credentials: Credentials) -> Result<Tokens, SignInError> {
        let request = self.client.initiate_auth().client_id(&self.client_id);
        let request = match credentials {
            Credentials::Password { username, password } => request
                .auth_flow(AuthFlowType::UserPasswordAuth)
                .auth_parameters("USERNAME", username)
                .auth_parameters("PASSWORD", password),
            Credentials::Refresh { refresh_token } => request
                .auth_flow(AuthFlowType::RefreshTokenAuth)
                .auth_parameters("REFRESH_TOKEN", refresh_token),
        };
        let output = request.send().await.map_err(|err| match &err {
            SdkError::ServiceError(e) => match e.err() {
                InitiateAuthError::NotAuthorizedException(_)
                | InitiateAuthError::UserNotFoundException(_)
                | InitiateAuthError::UserNotConfirmedException(_)
                | InitiateAuthError::PasswordResetRequiredException(_)
                | InitiateAuthError::InvalidParameterException(_) => SignInError::Refused,
                InitiateAuthError::TooManyRequestsException(_) => SignInError::Throttled,
                _ => SignInError::Failed(DisplayErrorContext(&err).to_string()),
            },
            _ => SignInError::Failed(DisplayErrorContext(&err).to_string()),
        })?;
        // A challenge (a new password, MFA) cannot be answered through this API.
        let Some(result) = output.authentication_result else {
            return Err(SignInError::Refused);
        };
        match (result.access_token, result.id_token) {
            (Some(access_token), Some(id_token)) => Ok(Tokens {
                access_token,
                id_token,
                refresh_token: result.refresh_token,
                expires_in: result.expires_in,
                token_type: "Bearer",
            }),
            _ => Err(SignInError::Failed("the answer carries no tokens".into())),
        }
    }
}

/// The credentials a body gives, checked for form and size.
pub fn credentials(body: TokenBody) -> Result<Credentials, Problem> {
    let bounded = |field: &str, value: &str, max: usize| {
        if value.is_empty() || value.chars().count() > max {
            Err(Problem::invalid(format!("{field}: 1 to {max} characters")))
        } else {
            Ok(())
        }
    };
    match body {
        TokenBody {
            username: Some(username),
            password: Some(password),
            refresh_token: None,
        } => {
            bounded("username", &username, 128)?;
            bounded("password", &password, 256)?;
            Ok(Credentials::Password { username, password })
        }
        TokenBody {
            username: None,
            password: None,
            refresh_token: Some(refresh_token),
        } => {
            bounded("refresh_token", &refresh_token, 4096)?;
            Ok(Credentials::Refresh { refresh_token })
        }
        _ => Err(Problem::invalid(
            "body: give either username and password, or refresh_token",
        )),
    }
}

pub struct Token<A> {
    pub auth: A,
}

impl<A: Authenticator> Token<A> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.sign_in(&request).await {
            Ok(response) => response,
            Err(problem) => problem.response(),
        }
    }

    async fn sign_in(&self, request: &Request) -> Result<Response<Body>, Problem> {
        match crate::route_key(request).as_deref() {
            Some("POST /token") => {}
            other => return Err(crate::unknown_route(other)),
        }
        input::query(request, &[])?;
        let credentials = credentials(input::json_body(request)?)?;
        let tokens = self.auth.sign_in(credentials).await.map_err(|err| match err {
            SignInError::Refused => Problem::new(Kind::Unauthorized, "the credentials are not valid"),
            SignInError::Throttled => {
                Problem::new(Kind::TooManyRequests, "too many sign-in attempts; wait a little")
            }
            SignInError::Failed(_) => Problem::internal(Kind::Unavailable, "sign-in is not available", &err),
        })?;
        let mut response = json(StatusCode::OK, &tokens);
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> TokenBody {
        serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_body_is_one_form_or_the_other() {
        assert!(matches!(
            credentials(body(serde_json::json!({"username": "alice", "password": "pw"}))),
            Ok(Credentials::Password { .. })
        ));
        assert!(matches!(
            credentials(body(serde_json::json!({"refresh_token": "r"}))),
            Ok(Credentials::Refresh { .. })
        ));
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"username": "alice"}),
            serde_json::json!({"username": "alice", "password": "pw", "refresh_token": "r"}),
            serde_json::json!({"username": "", "password": "pw"}),
        ] {
            assert_eq!(
                credentials(body(bad.clone())).map_err(|p| p.status).err(),
                Some(400),
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let text = format!(
            "{:?}",
            Credentials::Password {
                username: "alice".into(),
                password: "hunter2".into()
            }
        );
        assert!(!text.contains("hunter2"));
        let body = body(
            serde_json::json!({"username": "alice", "password": "hunter2", "refresh_token": "r-secret"}),
        );
        let text = format!("{body:?}");
        assert!(text.contains("alice") && text.contains("<set>"), "{text}");
        assert!(!text.contains("hunter2") && !text.contains("r-secret"), "{text}");
    }
}
