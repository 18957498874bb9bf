//! The lifecycle step functions of sbx. Each is a small Lambda (a binary in `src/bin/`, named
//! as the ASL Task that calls it: `LaunchInstances` → `launch-instances`), whose handler lives
//! in the module of its resource:
//!
//! - [`record`]: `begin-operation`, `finish-operation` (the sandbox record);
//! - [`lock`]: `acquire-lock`, `release-lock` (the account lock);
//! - [`account`]: `allocate-account`, `retire-account` (the account pool, image sharing);
//! - [`infrastructure`]: `ensure-infrastructure`, `release-infrastructure`;
//! - [`network`]: `create-network`, `delete-network`;
//! - [`instances`]: `launch-`, `start-`, `stop-`, `terminate-`, `check-instances`;
//! - [`ingress`]: `register-ingress`, `deregister-ingress`;
//! - [`constellations`]: `install-constellations`, `check-constellations`;
//! - [`sweep`]: the garbage collector's parts (`release-stale-locks`, `reconcile-stuck`,
//!   `delete-expired`, `run-deadlines`, `collect-orphans`, `cycle-accounts`, `grow-pool`).
//!
//! Data flows one way: the state machine's payload ([`job::Job`]) → a handler → the narrow
//! ports it takes (`sbx_aws::ports`, `sbx_store`'s traits), implemented by the AWS adapters and
//! the store. Each function is built one way, in [`functions`], from what an [`Init`] builds on first use
//! ([`lambda`], [`config`]). Errors leave as [`error::StepError`],
//! whose names the state machines match.

pub mod account;
pub mod config;
pub mod constellations;
pub mod error;
pub mod functions;
pub mod infrastructure;
pub mod ingress;
pub mod instances;
pub mod job;
pub mod lambda;
pub mod lock;
pub mod network;
pub mod record;
pub mod sandboxes;
pub mod sweep;

pub use config::{ConfigError, Images, LockSettings, SandboxImages, SweepSettings};
pub use error::StepError;
pub use functions::{FUNCTIONS, invoke};
pub use lambda::Init;
