//! What Kiln knows of a fleet's machines: the capacity its agents have connected. The one
//! place the API asks, so every fleet status is made from the same facts (docs/fleets.md).

use std::collections::HashMap;

use kiln_domain::ApiError;

use crate::state::AppState;

/// Connected agents and build slots per fleet ARN among `arns`; a fleet missing from the map
/// has none. An agent counts while it has been heard from within the agent silence (after
/// that its leases have expired too).
pub async fn connected_capacity(
    state: &AppState,
    account_id: &str,
    arns: &[&str],
) -> Result<HashMap<String, (u32, u32)>, ApiError> {
    let live_since = state.now_epoch() - state.builds.agent_silence().as_secs_f64();
    let agents = state
        .store
        .live_agents(Some(account_id), live_since)
        .await
        .map_err(crate::api::store_failure)?;
    let mut capacity: HashMap<String, (u32, u32)> = HashMap::new();
    for agent in agents
        .iter()
        .filter(|a| arns.contains(&a.fleet_arn.as_str()))
    {
        let entry = capacity.entry(agent.fleet_arn.clone()).or_default();
        entry.0 += 1;
        entry.1 += u32::try_from(agent.capacity).unwrap_or(0);
    }
    Ok(capacity)
}
