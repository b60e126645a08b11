//! Kiln's domain: projects, builds and their rules. Pure: no IO, no clocks, no async.

pub mod agent;
pub mod badge_epoch;
pub mod build;
pub mod build_logs;
pub mod caller;
pub mod clock;
pub mod commit;
pub mod enums;
pub mod error;
pub mod fleet;
pub mod project;
pub mod refs;
pub mod report;
pub mod retry;
pub mod secrets;
pub mod shapes;
pub mod source;
pub mod start;
pub mod token;
pub mod unapplied;
pub mod validate;
pub mod visibility;
pub mod webhook;

pub use error::{ApiError, ErrorKind};
