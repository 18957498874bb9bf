//! A moto server, the local AWS APIs, owned by whoever started it.
//!
//! [`MotoServer::start`] runs moto from the project's virtualenv (`scripts/setup` creates it) on
//! a port of 127.0.0.1 that the OS picks, and waits until it answers. The server ends when the
//! [`MotoServer`] is dropped, and also when its owner dies without dropping it: it exits as soon
//! as its stdin, a pipe from the owner, closes. Requests are served one at a time, so that every
//! API call is atomic, as on AWS (see `serve.py`). With a delay, resources pass through the
//! asynchronous states AWS gives them (`pending`, `stopping`, `deleting`, ...), and what AWS
//! refuses meanwhile is refused.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The launcher script, run with the virtualenv's Python.
const SERVE_PY: &str = include_str!("serve.py");

/// The region and credentials every local client uses. moto accepts any credentials.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "sbx-local";
pub const SECRET_ACCESS_KEY: &str = "sbx-local-secret";

/// How long moto may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("no Python with moto at {0} (run scripts/setup, or set SBX_PYTHON)")]
    NoPython(PathBuf),
    #[error("could not start moto: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("moto did not report its port within {0:?}")]
    Timeout(Duration),
    #[error("moto exited before it was ready: {0}")]
    Exited(String),
}

pub struct MotoServer {
    child: Child,
    /// Closing this pipe tells the server to exit.
    stdin: Option<ChildStdin>,
    port: u16,
}

impl std::fmt::Debug for MotoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MotoServer")
            .field("pid", &self.child.id())
            .field("port", &self.port)
            .finish()
    }
}

impl MotoServer {
    /// Starts moto on a free port of 127.0.0.1 with the project's Python, with moto's instant
    /// transitions.
    pub fn start() -> Result<Self, MotoError> {
        Self::start_on(0, Duration::ZERO)
    }

    /// Starts moto on `port` of 127.0.0.1 (0: any free port). A non-zero `delay` gives
    /// instances, NAT gateways and SSM commands the asynchronous states they have on AWS, each
    /// lasting `delay` (see `serve.py`).
    pub fn start_on(port: u16, delay: Duration) -> Result<Self, MotoError> {
        Self::start_seeded(port, delay, 1)
    }

    /// As [`MotoServer::start_on`], with `seed` for the decisions the realistic mode draws (which
    /// NAT gateways and account creations fail).
    pub fn start_seeded(port: u16, delay: Duration, seed: u64) -> Result<Self, MotoError> {
        Self::start_with_quotas(port, delay, seed, "")
    }

    /// As [`MotoServer::start_seeded`], with a new account's low service quotas in every
    /// account: `instances=N,load_balancers=N` (see `serve.py`; empty: none).
    pub fn start_with_quotas(port: u16, delay: Duration, seed: u64, quotas: &str) -> Result<Self, MotoError> {
        let python = python();
        if !python.exists() {
            return Err(MotoError::NoPython(python));
        }
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(SERVE_PY)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .arg(delay.as_secs_f64().to_string())
            .arg(seed.to_string())
            .arg(quotas)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(MotoError::Spawn)?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            return Err(MotoError::Exited("no stdout".into()));
        };

        // Read the "listening <port>" line on a thread so that a hung start can time out; the
        // thread then drains whatever else moto prints.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = tx.send(lines.read_line(&mut first).map(|_| first));
            let _ = std::io::copy(&mut lines.into_inner().take(u64::MAX), &mut std::io::sink());
        });
        let mut server = MotoServer {
            child,
            stdin,
            port: 0,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(err)) => return Err(MotoError::Spawn(err)),
            Err(_) => return Err(MotoError::Timeout(START_TIMEOUT)),
        };
        server.port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| MotoError::Exited(format!("unexpected first line {line:?}")))?;
        tracing::debug!(port = server.port, "moto started");
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint URL for `AWS_ENDPOINT_URL` and the SDK clients.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration that sends every service's calls to this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "sbx-moto",
            ))
            .load()
            .await
    }

    /// Stops the server and waits for it to exit.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Creates (or updates) the Secrets Manager secret `name` on the AWS endpoint `endpoint`. The
/// workspace has no Secrets Manager SDK (the functions read secrets through Parameter Store's
/// reference to them), so the local stack seeds them with boto3 from the project's Python.
pub fn put_secret(endpoint: &str, name: &str, value: &str) -> Result<(), MotoError> {
    let python = python();
    if !python.exists() {
        return Err(MotoError::NoPython(python));
    }
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(PUT_SECRET_PY)
        .arg(endpoint)
        .arg(REGION)
        .arg(name)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(MotoError::Spawn)?;
    // The value goes through stdin, never on a command line.
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(value.as_bytes()).map_err(MotoError::Spawn)?;
    }
    let output = child.wait_with_output().map_err(MotoError::Spawn)?;
    if !output.status.success() {
        return Err(MotoError::Exited(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    Ok(())
}

const PUT_SECRET_PY: &str = r#"
import sys, boto3
endpoint, region, name = sys.argv[1:4]
value = sys.stdin.read()
client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=region)
try:
    client.create_secret(Name=name, SecretString=value)
except client.exceptions.ResourceExistsException:
    client.put_secret_value(SecretId=name, SecretString=value)
"#;

/// Prints, as hex, the PKCS#1 DER form of the key moto signs every user pool's tokens with.
const SIGNING_KEY_PY: &str = r#"
from moto.utilities.utils import load_resource
from joserfc import jwk
from cryptography.hazmat.primitives import serialization as s
key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
print(key.private_key.private_bytes(s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption()).hex())
"#;

/// The private key (PKCS#1 DER) moto's Cognito signs every token with: one fixed key of its
/// package. With it a test can make a token that differs from a real one in one claim only
/// (expired, another issuer, another audience) and show that exactly that claim is checked.
pub fn user_pool_signing_key() -> Result<Vec<u8>, MotoError> {
    let python = python();
    if !python.exists() {
        return Err(MotoError::NoPython(python));
    }
    let output = Command::new(&python)
        .arg("-c")
        .arg(SIGNING_KEY_PY)
        .output()
        .map_err(MotoError::Spawn)?;
    let hex = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || hex.len() % 2 != 0 {
        return Err(MotoError::Exited(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|e| MotoError::Exited(format!("not hex: {e}")))
}

/// The Python that has moto: `SBX_PYTHON`, or the project's `.venv`, looked for from the
/// directory the process runs in upwards (a test runs in its package's directory, `sbx-local up` in
/// the repository's). Not from this crate's build-time path: a target directory shared by two
/// clones (as `.ci/run` shares one) keeps the path of the clone that built it.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("SBX_PYTHON") {
        return PathBuf::from(path);
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(here) = dir {
        let venv = here.join(".venv/bin/python");
        if venv.exists() {
            return venv;
        }
        dir = here.parent().map(std::path::Path::to_path_buf);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}
