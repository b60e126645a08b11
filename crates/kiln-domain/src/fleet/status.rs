//! A fleet's `FleetStatus`, made from the capacity its agents have connected: Kiln starts no
//! machines, so a fleet is ready only once someone runs agents for it.

use serde::Serialize;

/// The `FleetStatus` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStatus {
    pub status_code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<&'static str>,
    pub message: String,
}

/// The status of fleet `name` with `base_capacity` slots, while `connected_agents` agents offer
/// `connected_slots` build slots between them:
/// - no agent: `CREATING` / `ACTION_REQUIRED`, saying which command to run;
/// - fewer slots than the base capacity: `ACTIVE` / `INSUFFICIENT_CAPACITY`;
/// - otherwise `ACTIVE`, with no context.
pub fn fleet_status(
    name: &str,
    base_capacity: u32,
    connected_agents: u32,
    connected_slots: u32,
) -> FleetStatus {
    if connected_agents == 0 {
        return FleetStatus {
            status_code: "CREATING",
            context: Some("ACTION_REQUIRED"),
            message: format!(
                "0 of {base_capacity} build slots connected: start `kiln agent --fleet {name}` on a machine"
            ),
        };
    }
    let agents = if connected_agents == 1 {
        "agent"
    } else {
        "agents"
    };
    let message = format!(
        "{connected_slots} of {base_capacity} build slots connected ({connected_agents} {agents})"
    );
    let context = (connected_slots < base_capacity).then_some("INSUFFICIENT_CAPACITY");
    FleetStatus {
        status_code: "ACTIVE",
        context,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_agent_asks_for_one() {
        let s = fleet_status("linux", 3, 0, 0);
        assert_eq!(s.status_code, "CREATING");
        assert_eq!(s.context, Some("ACTION_REQUIRED"));
        assert_eq!(
            s.message,
            "0 of 3 build slots connected: start `kiln agent --fleet linux` on a machine"
        );
    }

    #[test]
    fn too_few_slots_is_active_with_insufficient_capacity() {
        let s = fleet_status("linux", 4, 1, 2);
        assert_eq!(s.status_code, "ACTIVE");
        assert_eq!(s.context, Some("INSUFFICIENT_CAPACITY"));
        assert_eq!(s.message, "2 of 4 build slots connected (1 agent)");
    }

    #[test]
    fn enough_slots_is_active_without_context() {
        for slots in [4, 9] {
            let s = fleet_status("linux", 4, 2, slots);
            assert_eq!(s.status_code, "ACTIVE");
            assert_eq!(s.context, None);
            assert_eq!(
                s.message,
                format!("{slots} of 4 build slots connected (2 agents)")
            );
        }
        let json = serde_json::to_value(fleet_status("linux", 1, 1, 1)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"statusCode": "ACTIVE", "message": "1 of 1 build slots connected (1 agent)"})
        );
    }
}
