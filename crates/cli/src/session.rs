//! `sbx login` and `sbx logout`: the tokens in the user's config directory ([`crate::config`]).

use crate::Global;
use crate::api::{Api, CliError};
use crate::config;

pub async fn login(
    global: &Global,
    username: Option<String>,
    password_stdin: bool,
) -> Result<String, CliError> {
    let base = global
        .api_url
        .clone()
        .or_else(|| std::env::var("SBX_API_URL").ok().filter(|u| !u.is_empty()))
        .ok_or_else(|| CliError::Usage("no API URL: pass --api-url or set SBX_API_URL".into()))?;
    let username = match username {
        Some(u) => u,
        None => {
            eprint!("user name: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| CliError::Local(e.to_string()))?;
            line.trim().to_owned()
        }
    };
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::Local(e.to_string()))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password("password: ")
            .map_err(|e| CliError::Local(format!("cannot read the password: {e}")))?
    };
    let api = Api::anonymous(base)?;
    let session = api.sign_in(&username, &password).await?;
    let path = config::save(&session).map_err(|e| CliError::Local(e.to_string()))?;
    Ok(format!(
        "signed in to {} as {username} (tokens in {})",
        session.api_url,
        path.display()
    ))
}

pub fn logout() -> Result<String, CliError> {
    Ok(
        match config::remove().map_err(|e| CliError::Local(e.to_string()))? {
            true => "signed out".to_owned(),
            false => "not signed in".to_owned(),
        },
    )
}
