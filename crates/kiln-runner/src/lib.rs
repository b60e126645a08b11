//! The runner: checks out sources, runs buildspec commands through an executor, keeps logs and
//! uploads artifacts.

pub mod artifacts;
pub mod build;
pub mod disk;
pub mod docker;
pub mod executor;
pub mod shell;
pub mod source;
