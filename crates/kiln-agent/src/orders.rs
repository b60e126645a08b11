//! The heartbeat (renews the leases of the builds the agent runs) and the watch (a long poll
//! that answers as soon as one of them must stop), and what the agent does with their orders.

use std::sync::Arc;
use std::time::Duration;

use kiln_domain::agent::BuildOrders;
use tokio_util::sync::CancellationToken;

use crate::Agent;
use crate::client::{CallError, kinds};

/// The pause after a failed watch, so an unreachable server is not called in a busy loop.
const WATCH_RETRY: Duration = Duration::from_secs(1);

impl Agent {
    /// Renews leases every `heartbeatSeconds`; cancels `refused` when the token is refused.
    pub(crate) async fn heartbeat_loop(self: Arc<Self>, refused: CancellationToken) {
        loop {
            let period = Duration::from_secs_f64(self.registered().heartbeat_seconds.max(0.05));
            tokio::time::sleep(period).await;
            match self.client.heartbeat(self.running_ids()).await {
                Ok(orders) => self.obey(&orders),
                Err(e) if e.is(kinds::SESSION_GONE) => {
                    tracing::warn!("the server forgot this agent's session; registering again");
                    if let Err(e) = self.register_again().await {
                        tracing::error!(error = %e, "cannot register again");
                        refused.cancel();
                        return;
                    }
                }
                Err(e) if e.is(kinds::UNAUTHORIZED) => {
                    tracing::error!(error = %e, "the server refuses this agent's token");
                    refused.cancel();
                    return;
                }
                // Builds go on while the server cannot be reached: their leases outlast a
                // short cut, and the log catches up once it is back.
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
    }

    /// Long-polls the server for stop orders while builds run.
    pub(crate) async fn watch_loop(self: Arc<Self>) {
        loop {
            let changed = self.running_changed.notified();
            let builds = self.running_ids();
            if builds.is_empty() {
                changed.await;
                continue;
            }
            let poll = Duration::from_secs_f64(self.registered().poll_seconds);
            // A build started or ended meanwhile: watch the new list at once.
            let watched = tokio::select! {
                watched = self.client.watch(builds, poll) => Some(watched),
                () = changed => None,
            };
            match watched {
                Some(Ok(orders)) => self.obey(&orders),
                Some(Err(e @ CallError::Unreachable(_))) => {
                    tracing::debug!(error = %e, "watch failed");
                    tokio::time::sleep(WATCH_RETRY).await;
                }
                Some(Err(_)) => tokio::time::sleep(WATCH_RETRY).await,
                None => {}
            }
        }
    }

    fn obey(&self, orders: &BuildOrders) {
        let running = self.running();
        for uuid in &orders.stop {
            if let Some(build) = running.get(uuid) {
                tracing::info!(build = %uuid, "stop requested");
                build.stop.cancel();
            }
        }
        for uuid in &orders.lost {
            // A build whose last state was saved meanwhile released its lease itself.
            if let Some(build) = running.get(uuid)
                && !build.released.is_cancelled()
            {
                tracing::warn!(build = %uuid, "the lease is gone; the build is stopped");
                build.released.cancel();
                build.lost.cancel();
                build.stop.cancel();
            }
        }
    }
}
