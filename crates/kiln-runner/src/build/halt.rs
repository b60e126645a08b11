//! Kiln ending a build's work early on its own account (a `StopBuild` is the stop token's): the
//! timeout, the log limit, a full disk. The first reason given is the one reported.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// Why Kiln cancelled a build's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HaltReason {
    TimedOut,
    /// The log reached its limit of this many bytes.
    LogLimit(u64),
    /// The data dir's file system is full or below its reserve; says which and how.
    DiskFull(String),
    /// The log cannot be written for another reason.
    LogUnwritable(String),
}

/// Cancels a build's work, remembering why. Cheap to clone; every clone shares the reason.
#[derive(Debug, Clone)]
pub(super) struct Halt {
    token: CancellationToken,
    reason: Arc<OnceLock<HaltReason>>,
}

impl Halt {
    /// Halts by cancelling `token` (the token everything of the build listens to).
    pub(super) fn new(token: CancellationToken) -> Self {
        Self {
            token,
            reason: Arc::new(OnceLock::new()),
        }
    }

    /// Cancels the build's work for `reason`, unless it was halted before.
    pub(super) fn halt(&self, reason: HaltReason) {
        // A later reason is a consequence of the first (processes dying, writes failing).
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    pub(super) fn reason(&self) -> Option<&HaltReason> {
        self.reason.get()
    }
}
