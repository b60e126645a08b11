//! What Kiln knows of a fleet's machines: the capacity its agents have connected. The one
//! place the API asks, so every fleet status is made from the same facts (docs/fleets.md).

use std::collections::HashMap;

use kiln_domain::ApiError;

use crate::state::AppState;

/// Connected agents and build slots per fleet ARN among `arns`; a fleet missing from the map
/// has none. No agent connects yet, so every fleet has none.
pub async fn connected_capacity(
    _state: &AppState,
    _account_id: &str,
    _arns: &[&str],
) -> Result<HashMap<String, (u32, u32)>, ApiError> {
    Ok(HashMap::new())
}
