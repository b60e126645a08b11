//! What Kiln knows of a fleet's machines: the capacity its agents have connected. The one
//! place the API and the console ask, so every fleet status is made from the same facts
//! (docs/fleets.md).

use std::collections::HashMap;

use kiln_domain::ApiError;
use kiln_domain::fleet::{FleetRecord, FleetStatus, fleet_status};
use kiln_store::{AgentSession, StoreError};

use crate::state::AppState;

/// The account's connected agents, ordered by fleet and name. An agent counts while it has
/// been heard from within the agent silence (after that its leases have expired too).
pub async fn live_agents(
    state: &AppState,
    account_id: &str,
) -> Result<Vec<AgentSession>, StoreError> {
    let live_since = state.now_epoch() - state.builds.agent_silence().as_secs_f64();
    state.store.live_agents(Some(account_id), live_since).await
}

/// Connected agents and build slots per fleet ARN among `arns`, from `agents`; a fleet
/// missing from the map has none.
pub fn capacity_by_fleet(agents: &[AgentSession], arns: &[&str]) -> HashMap<String, (u32, u32)> {
    let mut capacity: HashMap<String, (u32, u32)> = HashMap::new();
    for agent in agents
        .iter()
        .filter(|a| arns.contains(&a.fleet_arn.as_str()))
    {
        let entry = capacity.entry(agent.fleet_arn.clone()).or_default();
        entry.0 += 1;
        entry.1 += u32::try_from(agent.capacity).unwrap_or(0);
    }
    capacity
}

/// Connected agents and build slots per fleet ARN among `arns` (see [`capacity_by_fleet`]).
pub async fn connected_capacity(
    state: &AppState,
    account_id: &str,
    arns: &[&str],
) -> Result<HashMap<String, (u32, u32)>, ApiError> {
    let agents = live_agents(state, account_id)
        .await
        .map_err(crate::api::store_failure)?;
    Ok(capacity_by_fleet(&agents, arns))
}

/// The status of `fleet` with the capacity [`capacity_by_fleet`] found.
pub fn status_of(fleet: &FleetRecord, capacity: &HashMap<String, (u32, u32)>) -> FleetStatus {
    let (agents, slots) = capacity.get(&fleet.arn).copied().unwrap_or((0, 0));
    let base = u32::try_from(fleet.settings.base_capacity).unwrap_or(0);
    fleet_status(&fleet.name, base, agents, slots)
}
