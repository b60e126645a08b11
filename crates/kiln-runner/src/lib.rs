//! The runner: checks out sources, runs buildspec commands through an executor, keeps logs and
//! uploads artifacts and reports.

pub mod artifacts;
pub mod build;
pub mod build_user;
pub mod cache;
pub mod confined;
pub mod disk;
pub mod docker;
pub mod executor;
pub mod local_source;
pub mod reports;
pub mod runtimes;
pub mod shell;
pub mod source;
