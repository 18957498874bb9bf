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
//! the store. Each binary builds only what its handler takes ([`lambda`], [`config`]). Errors leave as [`error::StepError`],
//! whose names the state machines match.

pub mod account;
pub mod config;
pub mod constellations;
pub mod context;
pub mod dispatch;
pub mod error;
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
pub use context::{Settings, Steps};
pub use dispatch::{FUNCTIONS, invoke};
pub use error::StepError;
