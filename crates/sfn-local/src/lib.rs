//! A local Step Functions engine.
//!
//! It runs Amazon States Language definitions (JSONPath) as AWS Step Functions does, invoking
//! Lambda functions that are handlers in this process or executables speaking the Lambda
//! Runtime API, and serves the Step Functions API on loopback so that `aws-sdk-sfn` and the AWS
//! CLI work against it unchanged.

pub mod api;
pub mod asl;
pub mod choice;
pub mod engine;
pub mod error;
pub mod history;
pub mod intrinsics;
pub mod invoke;
pub mod path;
pub mod service;
pub mod signal;

pub use engine::Engine;
pub use invoke::{Authorize, FunctionError, Functions, RuntimeFunction};
pub use service::Service;
