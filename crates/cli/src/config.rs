//! Where the command line keeps the signed-in user's tokens: `<config dir>/sbx/credentials.json`
//! (`$XDG_CONFIG_HOME/sbx` or `~/.config/sbx` on Linux; `SBX_CONFIG_DIR` overrides it), readable
//! by its owner only (mode 0600). `sbx logout` removes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The signed-in session: the API it is for and its tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub api_url: String,
    pub username: String,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("api_url", &self.api_url)
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether the access token is past (or within a minute of) its expiry.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now + chrono::Duration::seconds(60) >= self.expires_at
    }
}

/// The directory of the credentials file.
pub fn dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SBX_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    dirs::config_dir().map(|d| d.join("sbx"))
}

fn file() -> Result<PathBuf, std::io::Error> {
    dir()
        .map(|d| d.join("credentials.json"))
        .ok_or_else(|| std::io::Error::other("no config directory (set SBX_CONFIG_DIR)"))
}

/// The saved session, if any.
pub fn load() -> Result<Option<Session>, std::io::Error> {
    let path = file()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Saves the session, readable by its owner only; the file is replaced whole.
pub fn save(session: &Session) -> Result<PathBuf, std::io::Error> {
    let path = file()?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let partial = path.with_extension("json.partial");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut out = options.open(&partial)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        out.write_all(&serde_json::to_vec_pretty(session).map_err(std::io::Error::other)?)?;
        out.sync_all()?;
    }
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// Removes the saved session; returns whether there was one.
pub fn remove() -> Result<bool, std::io::Error> {
    match std::fs::remove_file(file()?) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}
