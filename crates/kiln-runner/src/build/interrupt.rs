//! Ending a build early: why ([`Interrupt`]), the watchdog (timeout, full disk), the final state.

use std::time::Duration;

use kiln_domain::build::{BuildStatus, PhaseContext, context_codes};

use super::halt::HaltReason;
use super::{Run, now};
use crate::disk::{Bytes, DiskFull, DiskReserve};

/// Builds never run longer than CodeBuild's maximum timeout, whatever the settings say.
const MAX_TIMEOUT_MINUTES: u32 = 2160;
/// How often the data dir's free space is checked while a build runs.
const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why a build ends early.
#[derive(Debug)]
pub(super) enum Interrupt {
    Stopped,
    TimedOut,
    /// The log reached its limit of this many bytes.
    LogLimit(u64),
    /// The data dir's disk is full; the message is for the phase context and names the cause.
    DiskFull(String),
    /// Kiln itself failed; the message is for the phase context.
    Fault(String),
}

impl Run<'_> {
    /// Cancels everything when the build's time is up, or when the data dir's free space falls
    /// below its reserve.
    pub(super) fn start_watchdog(&mut self) {
        let minutes = u32::try_from(self.record.settings.timeout_in_minutes.max(1))
            .unwrap_or(MAX_TIMEOUT_MINUTES)
            .min(MAX_TIMEOUT_MINUTES);
        let limit = self.minute.saturating_mul(minutes);
        let halt = self.halt.clone();
        let disk_reserve = self.disk_reserve.clone();
        self.watchdog = Some(tokio::spawn(async move {
            let timeout = tokio::time::sleep(limit);
            tokio::pin!(timeout);
            let mut disk_checks = tokio::time::interval(DISK_CHECK_INTERVAL);
            loop {
                tokio::select! {
                    () = &mut timeout => return halt.halt(HaltReason::TimedOut),
                    _ = disk_checks.tick() => {
                        if let Some(Err(full)) = disk_reserve.as_ref().map(DiskReserve::check) {
                            return halt.halt(HaltReason::DiskFull(format!("Build stopped: {full}")));
                        }
                    }
                }
            }
        }));
    }

    pub(super) fn interruption(&self) -> Interrupt {
        if self.stop.is_cancelled() {
            return Interrupt::Stopped;
        }
        match self.halt.reason() {
            Some(HaltReason::TimedOut) => Interrupt::TimedOut,
            Some(HaltReason::LogLimit(limit)) => Interrupt::LogLimit(*limit),
            Some(HaltReason::DiskFull(message)) => Interrupt::DiskFull(message.clone()),
            Some(HaltReason::LogUnwritable(message)) => Interrupt::Fault(message.clone()),
            None => Interrupt::Fault("work was cancelled unexpectedly".to_owned()),
        }
    }

    /// Whether the data dir is below its free-space reserve now.
    pub(super) fn disk_full(&self) -> Option<DiskFull> {
        self.disk_reserve.as_ref()?.check().err()
    }

    pub(super) async fn interrupted(&mut self, interrupt: Interrupt) {
        self.capture_exported_variables();
        let phase = self.record.current_phase;
        let (status, context) = match interrupt {
            Interrupt::Stopped => {
                self.log.line("Build stopped by request");
                (
                    BuildStatus::Stopped,
                    PhaseContext::new(context_codes::BUILD_STOPPED, "Build was stopped"),
                )
            }
            Interrupt::TimedOut => {
                let minutes = self.record.settings.timeout_in_minutes;
                self.log
                    .line(&format!("Build timed out after {minutes} minutes"));
                (
                    BuildStatus::TimedOut,
                    PhaseContext::new(
                        context_codes::BUILD_TIMED_OUT,
                        format!(
                            "Build has timed out. The build ran longer than its timeout of {minutes} minutes"
                        ),
                    ),
                )
            }
            Interrupt::LogLimit(limit) => (
                BuildStatus::Failed,
                PhaseContext::new(
                    context_codes::CLIENT_ERROR,
                    format!(
                        "The build log reached its limit of {} (max_log_bytes); the build's processes were stopped",
                        Bytes(limit)
                    ),
                ),
            ),
            Interrupt::DiskFull(message) => {
                // The build's own files are the likeliest to fill the disk: removing them first
                // lets this line, and the build's final state, be written.
                self.clean_up().await;
                self.log.line(&message);
                (
                    BuildStatus::Fault,
                    PhaseContext::new(context_codes::SERVER_ERROR, message),
                )
            }
            Interrupt::Fault(message) => {
                // A write that failed for want of space fails as "cannot write …": name why.
                let message = match self.disk_full() {
                    Some(full) => format!("{message}; {full}"),
                    None => message,
                };
                self.log.line(&format!("Kiln internal error: {message}"));
                (
                    BuildStatus::Fault,
                    PhaseContext::new(context_codes::SERVER_ERROR, message),
                )
            }
        };
        self.log_phase_end(phase, status, &context);
        self.record.abort(status, context, now());
        self.sink.save(&self.record).await;
    }

    /// Ends every process of the build. Safe to call twice.
    pub(super) async fn stop_processes(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
        if let Some(mut shell) = self.shell.take() {
            shell.shutdown().await;
        }
        if let Some(environment) = self.environment.take() {
            environment.teardown().await;
        }
    }
}

pub(super) fn output_not_open() -> Interrupt {
    Interrupt::Fault("the build's output pipe is not open".to_owned())
}
