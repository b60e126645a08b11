//! Compute fleets: the CodeBuild `Fleet` shape, its validation (`validate`) and its status,
//! made from the build slots that agents have connected (`status`). See docs/fleets.md.

mod platform;
mod status;
mod validate;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::project::Tag;

pub use platform::check_agent_platform;
pub use status::{FleetStatus, fleet_status};
pub use validate::{NAME_PATTERN, apply_update, is_valid_fleet_name, validate_create};

/// Overflow behaviour when a fleet is created without one.
pub const DEFAULT_OVERFLOW_BEHAVIOR: &str = "QUEUE";

/// `ComputeConfiguration`: stored and echoed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v_cpu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
}

/// `ScalingConfigurationInput` (and the output shape less `desiredCapacity`): stored and echoed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_tracking_scaling_configs: Option<Vec<TargetTrackingScalingConfiguration>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetTrackingScalingConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_value: Option<f64>,
}

/// `VpcConfig`: stored and echoed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_group_ids: Option<Vec<String>>,
}

/// `ProxyConfiguration`: stored and echoed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_behavior: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordered_proxy_rules: Option<Vec<FleetProxyRule>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetProxyRule {
    #[serde(rename = "type")]
    pub rule_type: Option<String>,
    pub effect: Option<String>,
    pub entities: Option<Vec<String>>,
}

/// `ProjectFleet`: the fleet a project's (or a build's) environment runs on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectFleet {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_arn: Option<String>,
}

/// A fleet's settings, as stored (the `settings` column) and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetSettings {
    pub base_capacity: i32,
    pub environment_type: String,
    pub compute_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_configuration: Option<ComputeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_configuration: Option<ScalingConfiguration>,
    pub overflow_behavior: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet_service_role: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// `CreateFleetInput` and `UpdateFleetInput` in one: Create names the fleet with `name`,
/// Update with `arn`; each ignores the other.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetInput {
    pub name: Option<String>,
    pub arn: Option<String>,
    pub base_capacity: Option<i32>,
    pub environment_type: Option<String>,
    pub compute_type: Option<String>,
    pub compute_configuration: Option<ComputeConfiguration>,
    pub scaling_configuration: Option<ScalingConfiguration>,
    pub overflow_behavior: Option<String>,
    pub vpc_config: Option<VpcConfig>,
    pub proxy_configuration: Option<ProxyConfiguration>,
    pub image_id: Option<String>,
    pub fleet_service_role: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

/// A stored fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetRecord {
    pub account_id: String,
    pub name: String,
    /// A UUID, given at creation: the ARN of a fleet re-created under its name differs.
    pub id: String,
    pub arn: String,
    /// Epoch seconds.
    pub created: f64,
    pub last_modified: f64,
    pub settings: FleetSettings,
}

impl FleetRecord {
    /// The `Fleet` shape, with the status made from the fleet's connected capacity.
    pub fn to_api(&self, status: &FleetStatus) -> Value {
        let mut out = match serde_json::to_value(&self.settings) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        out.insert("arn".into(), Value::String(self.arn.clone()));
        out.insert("name".into(), Value::String(self.name.clone()));
        out.insert("id".into(), Value::String(self.id.clone()));
        out.insert("created".into(), self.created.into());
        out.insert("lastModified".into(), self.last_modified.into());
        out.insert(
            "status".into(),
            serde_json::to_value(status).unwrap_or(Value::Null),
        );
        Value::Object(out)
    }
}

pub fn fleet_arn(region: &str, account_id: &str, name: &str, id: &str) -> String {
    format!("arn:aws:codebuild:{region}:{account_id}:fleet/{name}:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_shape_carries_identity_settings_and_status() {
        let input: FleetInput = serde_json::from_value(serde_json::json!({
            "name": "linux-small", "baseCapacity": 2, "environmentType": "LINUX_CONTAINER",
            "computeType": "BUILD_GENERAL1_SMALL",
            "computeConfiguration": {"vCpu": 2, "machineType": "GENERAL"},
            "tags": [{"key": "team", "value": "ci"}]
        }))
        .unwrap();
        let record = validate_create(input, "123456789012", "eu-west-1", "id-1", 5.0).unwrap();
        assert_eq!(
            record.arn,
            "arn:aws:codebuild:eu-west-1:123456789012:fleet/linux-small:id-1"
        );
        let api = record.to_api(&fleet_status(&record.name, 2, 1, 2));
        assert_eq!(api["name"], "linux-small");
        assert_eq!(api["id"], "id-1");
        assert_eq!(api["baseCapacity"], 2);
        assert_eq!(api["overflowBehavior"], "QUEUE");
        assert_eq!(api["computeConfiguration"]["vCpu"], 2);
        assert_eq!(api["tags"][0]["key"], "team");
        assert_eq!(api["created"], 5.0);
        assert_eq!(api["status"]["statusCode"], "ACTIVE");
        assert!(api.get("vpcConfig").is_none());
    }
}
