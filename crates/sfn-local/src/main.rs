//! `sfn-local`: the local Step Functions engine as a command.

use clap::{Parser, Subcommand};
use sbx_sfn_local::{Engine, Functions, RuntimeFunction, Service, api};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sfn-local",
    about = "A local Step Functions engine serving the Step Functions API on 127.0.0.1"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Step Functions API until Ctrl-C or SIGTERM.
    Serve {
        /// Port on 127.0.0.1 (0: any free port; the port is printed).
        #[arg(long, default_value_t = 8083)]
        port: u16,
        /// A Lambda function: NAME=EXECUTABLE, an executable speaking the Lambda Runtime API.
        #[arg(long = "function", value_name = "NAME=EXECUTABLE")]
        functions: Vec<String>,
        /// Create a state machine from every *.asl.json in this directory, named after the file.
        #[arg(long)]
        state_machines: Option<PathBuf>,
        /// JSON object of ${Name} substitutions for the definitions in --state-machines.
        #[arg(long, requires = "state_machines")]
        substitutions: Option<PathBuf>,
        /// Scale of Wait states and retry delays (0: no waiting).
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        #[arg(long, default_value = "us-east-1")]
        region: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    sbx_telemetry::init();
    let Cli {
        command:
            Command::Serve {
                port,
                functions,
                state_machines,
                substitutions,
                time_scale,
                region,
            },
    } = Cli::parse();
    match serve(port, functions, state_machines, substitutions, time_scale, region).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sfn-local: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    port: u16,
    functions: Vec<String>,
    state_machines: Option<PathBuf>,
    substitutions: Option<PathBuf>,
    time_scale: f64,
    region: String,
) -> Result<(), String> {
    if !(time_scale >= 0.0 && time_scale.is_finite()) {
        return Err(format!(
            "--time-scale must be a non-negative number, not {time_scale}"
        ));
    }
    let registry = Functions::new();
    for spec in &functions {
        let (name, executable) = spec
            .split_once('=')
            .filter(|(name, exe)| !name.is_empty() && !exe.is_empty())
            .ok_or_else(|| format!("--function takes NAME=EXECUTABLE, not {spec:?}"))?;
        let executable = PathBuf::from(executable);
        if !executable.is_file() {
            return Err(format!(
                "--function {name}: {} is not a file",
                executable.display()
            ));
        }
        registry.register(
            name,
            std::sync::Arc::new(RuntimeFunction::new(
                name,
                executable,
                &region,
                sbx_sfn_local::service::ACCOUNT,
            )),
        );
    }
    let service = Service::new(Engine {
        functions: registry,
        time_scale,
        region,
    });
    if let Some(dir) = state_machines {
        let substitutions: HashMap<String, String> = match substitutions {
            Some(file) => {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                serde_json::from_str(&text)
                    .map_err(|e| format!("{}: not a JSON object of strings: {e}", file.display()))?
            }
            None => HashMap::new(),
        };
        let names = service.load_dir(&dir, &substitutions)?;
        tracing::info!(count = names.len(), dir = %dir.display(), "state machines loaded: {}", names.join(", "));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!("sfn-local listening on http://{address}");
    tokio::select! {
        result = api::serve(service, listener) => result.map_err(|e| e.to_string()),
        _ = sbx_sfn_local::signal::stop_requested() => {
            tracing::info!("stopping");
            Ok(())
        }
    }
}
