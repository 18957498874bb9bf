//! The one logging set-up of every sbx function and binary.
//!
//! In Lambda it follows the function's logging configuration: `AWS_LAMBDA_LOG_FORMAT=JSON` gives
//! one JSON object per line with `timestamp`, `level` and `message` (what CloudWatch's JSON log
//! format expects), otherwise plain text without colours or time (CloudWatch adds the time);
//! `AWS_LAMBDA_LOG_LEVEL` sets the level. On a terminal it writes readable, coloured text to
//! stderr, so that a command's stdout stays its own. `RUST_LOG` refines the level anywhere.
//!
//! Nothing secret is logged: events carry ids and states, never credentials or tokens.

use std::io::IsTerminal;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lambda with `AWS_LAMBDA_LOG_FORMAT=JSON`.
    Json,
    /// Lambda with the text log format.
    LambdaText,
    /// A developer's terminal or a CI log.
    Terminal { ansi: bool },
}

/// The logging configuration, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub format: Format,
    /// An `EnvFilter` directive such as `info` or `sbx_store=debug,info`.
    pub filter: String,
}

impl Settings {
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok(), std::io::stderr().is_terminal())
    }

    /// The settings for the given variables; `tty` tells whether stderr is a terminal.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, tty: bool) -> Self {
        let in_lambda = var("AWS_LAMBDA_FUNCTION_NAME").is_some() || var("AWS_LAMBDA_RUNTIME_API").is_some();
        let format = match var("AWS_LAMBDA_LOG_FORMAT") {
            Some(format) if format.eq_ignore_ascii_case("json") => Format::Json,
            _ if in_lambda => Format::LambdaText,
            _ => Format::Terminal { ansi: tty },
        };
        let filter = var("RUST_LOG")
            .or_else(|| var("AWS_LAMBDA_LOG_LEVEL").map(|level| lambda_level(&level).to_owned()))
            .unwrap_or_else(|| "info".to_owned());
        Self { format, filter }
    }
}

/// Lambda's level names (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) as `tracing` levels.
fn lambda_level(level: &str) -> &'static str {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    }
}

/// A subscriber for `settings` that writes to `writer`.
pub fn subscriber<W>(settings: &Settings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match settings.format {
        Format::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_target(false)
                .finish(),
        ),
        Format::LambdaText => Box::new(
            builder
                .with_ansi(false)
                .without_time()
                .with_target(false)
                .finish(),
        ),
        Format::Terminal { ansi } => Box::new(builder.with_ansi(ansi).finish()),
    }
}

/// Installs the logging of this process, from the environment. In Lambda it writes to stdout;
/// elsewhere to stderr. Calling it again does nothing.
pub fn init() {
    let settings = Settings::from_env();
    let subscriber = match settings.format {
        Format::Terminal { .. } => subscriber(&settings, std::io::stderr),
        Format::Json | Format::LambdaText => subscriber(&settings, std::io::stdout),
    };
    let _ = tracing::subscriber::set_global_default(subscriber);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn capture(settings: &Settings, log: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing::subscriber::with_default(subscriber(settings, move || writer.clone()), log);
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn lambda_json_format_and_level_come_from_the_function_configuration() {
        let settings = Settings::from_vars(
            vars(&[
                ("AWS_LAMBDA_FUNCTION_NAME", "launch-instances"),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
            ]),
            false,
        );
        assert_eq!(
            settings,
            Settings {
                format: Format::Json,
                filter: "warn".into()
            }
        );
        let out = capture(&settings, || {
            tracing::info!("not at this level");
            tracing::warn!(sandbox = "sbx-1", "instances slow to start");
        });
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect();
        assert_eq!(lines.len(), 1, "{out}");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["message"], "instances slow to start");
        assert_eq!(lines[0]["sandbox"], "sbx-1");
        assert!(lines[0]["timestamp"].is_string());
    }

    #[test]
    fn lambda_text_format_has_no_colours_and_a_terminal_gets_them_only_when_it_is_one() {
        let lambda = Settings::from_vars(vars(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]), true);
        assert_eq!(lambda.format, Format::LambdaText);
        let out = capture(&lambda, || tracing::info!("hello"));
        assert!(
            out.contains("INFO") && out.contains("hello") && !out.contains('\u{1b}'),
            "{out:?}"
        );

        assert_eq!(
            Settings::from_vars(vars(&[]), true).format,
            Format::Terminal { ansi: true }
        );
        assert_eq!(
            Settings::from_vars(vars(&[]), false).format,
            Format::Terminal { ansi: false }
        );
        let piped = capture(&Settings::from_vars(vars(&[]), false), || tracing::info!("hello"));
        assert!(!piped.contains('\u{1b}'), "{piped:?}");
    }

    #[test]
    fn rust_log_refines_the_level_and_nonsense_falls_back_to_info() {
        let settings = Settings::from_vars(
            vars(&[("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "error")]),
            false,
        );
        assert_eq!(settings.filter, "error");
        assert_eq!(
            Settings::from_vars(vars(&[("AWS_LAMBDA_LOG_LEVEL", "LOUD")]), false).filter,
            "info"
        );
        let garbage = Settings {
            format: Format::Terminal { ansi: false },
            filter: "=[".into(),
        };
        let out = capture(&garbage, || {
            tracing::debug!("hidden");
            tracing::info!("shown");
        });
        assert!(out.contains("shown") && !out.contains("hidden"), "{out}");
    }
}
