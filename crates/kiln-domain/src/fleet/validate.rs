//! `CreateFleet` and `UpdateFleet` validation, with the model's constraints in AWS's wording.

use crate::enums;
use crate::error::ApiError;
use crate::project::validate_tags;
use crate::validate::Violations;

use super::{
    ComputeConfiguration, DEFAULT_OVERFLOW_BEHAVIOR, FleetInput, FleetRecord, FleetSettings,
    ProxyConfiguration, ScalingConfiguration, VpcConfig, fleet_arn,
};

/// The pattern of a fleet name (`FleetName` in the model).
pub const NAME_PATTERN: &str = "[A-Za-z0-9][A-Za-z0-9\\-_]{1,127}";

pub fn is_valid_fleet_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && (2..=128).contains(&name.len())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn validate_name(v: &mut Violations, name: &str) {
    v.length("name", name, 2, 128);
    if !is_valid_fleet_name(name) {
        v.add(
            "name",
            name,
            &format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        );
    }
}

fn non_empty(v: &mut Violations, field: &str, value: &str) {
    v.min_length(field, value, 1);
}

fn validate_compute_configuration(v: &mut Violations, c: &ComputeConfiguration) {
    if let Some(t) = &c.machine_type {
        v.one_of("computeConfiguration.machineType", t, enums::MACHINE_TYPE);
    }
    if let Some(t) = &c.instance_type {
        non_empty(v, "computeConfiguration.instanceType", t);
    }
}

fn validate_scaling(v: &mut Violations, s: &ScalingConfiguration) {
    if let Some(t) = &s.scaling_type {
        v.one_of(
            "scalingConfiguration.scalingType",
            t,
            enums::FLEET_SCALING_TYPE,
        );
    }
    for (i, config) in s
        .target_tracking_scaling_configs
        .iter()
        .flatten()
        .enumerate()
    {
        if let Some(m) = &config.metric_type {
            v.one_of(
                &format!(
                    "scalingConfiguration.targetTrackingScalingConfigs.{}.member.metricType",
                    i + 1
                ),
                m,
                enums::FLEET_SCALING_METRIC_TYPE,
            );
        }
    }
    if let Some(max) = s.max_capacity {
        v.min_value("scalingConfiguration.maxCapacity", i64::from(max), 1);
    }
}

fn validate_vpc(v: &mut Violations, vpc: &VpcConfig) {
    if let Some(id) = &vpc.vpc_id {
        non_empty(v, "vpcConfig.vpcId", id);
    }
    for (field, list, max) in [
        ("vpcConfig.subnets", &vpc.subnets, 16),
        ("vpcConfig.securityGroupIds", &vpc.security_group_ids, 5),
    ] {
        if let Some(list) = list {
            v.count(field, list.len(), max);
            for (i, item) in list.iter().enumerate() {
                non_empty(v, &format!("{field}.{}.member", i + 1), item);
            }
        }
    }
}

fn validate_proxy(v: &mut Violations, proxy: &ProxyConfiguration) {
    if let Some(b) = &proxy.default_behavior {
        v.one_of(
            "proxyConfiguration.defaultBehavior",
            b,
            enums::FLEET_PROXY_RULE_BEHAVIOR,
        );
    }
    let Some(rules) = &proxy.ordered_proxy_rules else {
        return;
    };
    v.count("proxyConfiguration.orderedProxyRules", rules.len(), 100);
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("proxyConfiguration.orderedProxyRules.{}.member", i + 1);
        match &rule.rule_type {
            None => v.missing(&format!("{field}.type")),
            Some(t) => v.one_of(&format!("{field}.type"), t, enums::FLEET_PROXY_RULE_TYPE),
        }
        match &rule.effect {
            None => v.missing(&format!("{field}.effect")),
            Some(e) => v.one_of(
                &format!("{field}.effect"),
                e,
                enums::FLEET_PROXY_RULE_EFFECT,
            ),
        }
        match &rule.entities {
            None => v.missing(&format!("{field}.entities")),
            Some(list) if list.is_empty() => v.add(
                &format!("{field}.entities"),
                "[]",
                "Member must have length greater than or equal to 1",
            ),
            Some(list) => v.count(&format!("{field}.entities"), list.len(), 100),
        }
    }
}

/// Checks every member that is present; `create` adds CreateFleet's required members.
fn validate_members(v: &mut Violations, input: &FleetInput, create: bool) {
    match input.base_capacity {
        Some(c) => v.min_value("baseCapacity", i64::from(c), 1),
        None if create => v.missing("baseCapacity"),
        None => {}
    }
    match &input.environment_type {
        Some(t) => v.one_of("environmentType", t, enums::ENVIRONMENT_TYPE),
        None if create => v.missing("environmentType"),
        None => {}
    }
    match &input.compute_type {
        Some(t) => v.one_of("computeType", t, enums::COMPUTE_TYPE),
        None if create => v.missing("computeType"),
        None => {}
    }
    if let Some(c) = &input.compute_configuration {
        validate_compute_configuration(v, c);
    }
    if let Some(s) = &input.scaling_configuration {
        validate_scaling(v, s);
    }
    if let Some(o) = &input.overflow_behavior {
        v.one_of("overflowBehavior", o, enums::FLEET_OVERFLOW_BEHAVIOR);
    }
    if let Some(vpc) = &input.vpc_config {
        validate_vpc(v, vpc);
    }
    if let Some(proxy) = &input.proxy_configuration {
        validate_proxy(v, proxy);
    }
    if let Some(id) = &input.image_id {
        non_empty(v, "imageId", id);
    }
    if let Some(role) = &input.fleet_service_role {
        non_empty(v, "fleetServiceRole", role);
    }
    if let Some(tags) = &input.tags {
        validate_tags(v, tags);
    }
}

/// Rules across members, on the settings a request leaves: the compute types that are defined
/// by a configuration need one (the model's documentation of `computeConfiguration`).
fn validate_combined(s: &FleetSettings) -> Result<(), ApiError> {
    let needs = matches!(
        s.compute_type.as_str(),
        "ATTRIBUTE_BASED_COMPUTE" | "CUSTOM_INSTANCE_TYPE"
    );
    if needs && s.compute_configuration.is_none() {
        return Err(ApiError::invalid_input(format!(
            "computeConfiguration is required when computeType is {}",
            s.compute_type
        )));
    }
    if s.compute_type == "CUSTOM_INSTANCE_TYPE"
        && s.compute_configuration
            .as_ref()
            .is_none_or(|c| c.instance_type.is_none())
    {
        return Err(ApiError::invalid_input(
            "computeConfiguration.instanceType is required when computeType is CUSTOM_INSTANCE_TYPE",
        ));
    }
    Ok(())
}

/// Validates a `CreateFleet` request and makes the fleet: `id` is its new UUID, `now` its
/// creation time.
pub fn validate_create(
    input: FleetInput,
    account_id: &str,
    region: &str,
    id: &str,
    now: f64,
) -> Result<FleetRecord, ApiError> {
    let mut v = Violations::new();
    match input.name.as_deref() {
        None | Some("") => v.missing("name"),
        Some(name) => validate_name(&mut v, name),
    }
    validate_members(&mut v, &input, true);
    v.finish()?;
    let name = input.name.unwrap_or_default();
    let settings = FleetSettings {
        base_capacity: input.base_capacity.unwrap_or(1),
        environment_type: input.environment_type.unwrap_or_default(),
        compute_type: input.compute_type.unwrap_or_default(),
        compute_configuration: input.compute_configuration,
        scaling_configuration: input.scaling_configuration,
        overflow_behavior: input
            .overflow_behavior
            .unwrap_or_else(|| DEFAULT_OVERFLOW_BEHAVIOR.to_string()),
        vpc_config: input.vpc_config,
        proxy_configuration: input.proxy_configuration,
        image_id: input.image_id,
        fleet_service_role: input.fleet_service_role,
        tags: input.tags.unwrap_or_default(),
    };
    validate_combined(&settings)?;
    Ok(FleetRecord {
        account_id: account_id.to_string(),
        arn: fleet_arn(region, account_id, &name, id),
        name,
        id: id.to_string(),
        created: now,
        last_modified: now,
        settings,
    })
}

/// Applies an `UpdateFleet` request: only the members given change.
pub fn apply_update(record: &mut FleetRecord, input: FleetInput, now: f64) -> Result<(), ApiError> {
    let mut v = Violations::new();
    validate_members(&mut v, &input, false);
    v.finish()?;
    let mut s = record.settings.clone();
    if let Some(c) = input.base_capacity {
        s.base_capacity = c;
    }
    if let Some(t) = input.environment_type {
        s.environment_type = t;
    }
    if let Some(t) = input.compute_type {
        s.compute_type = t;
    }
    if let Some(o) = input.overflow_behavior {
        s.overflow_behavior = o;
    }
    if let Some(t) = input.tags {
        s.tags = t;
    }
    macro_rules! replace {
        ($($field:ident),*) => { $( if input.$field.is_some() { s.$field = input.$field; } )* };
    }
    replace!(
        compute_configuration,
        scaling_configuration,
        vpc_config,
        proxy_configuration,
        image_id,
        fleet_service_role
    );
    validate_combined(&s)?;
    record.settings = s;
    record.last_modified = now;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::{Value, json};

    fn input(json: Value) -> FleetInput {
        serde_json::from_value(json).unwrap()
    }

    fn minimal() -> Value {
        json!({
            "name": "linux-small", "baseCapacity": 1,
            "environmentType": "LINUX_CONTAINER", "computeType": "BUILD_GENERAL1_SMALL"
        })
    }

    fn create(json: Value) -> Result<FleetRecord, ApiError> {
        validate_create(input(json), "123456789012", "us-east-1", "u-1", 1.0)
    }

    #[test]
    fn a_minimal_fleet_queues_its_overflow() {
        let f = create(minimal()).unwrap();
        assert_eq!(f.settings.overflow_behavior, "QUEUE");
        assert_eq!(f.settings.base_capacity, 1);
        assert!(f.settings.tags.is_empty());
    }

    #[test]
    fn required_members_are_named_like_aws() {
        let err = create(json!({})).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert_eq!(
            err.message,
            "4 validation errors detected: \
             Value null at 'name' failed to satisfy constraint: Member must not be null; \
             Value null at 'baseCapacity' failed to satisfy constraint: Member must not be null; \
             Value null at 'environmentType' failed to satisfy constraint: Member must not be null; \
             Value null at 'computeType' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn names_capacity_and_enums_are_checked() {
        for bad in ["a", "-abc", "has space", "has:colon", &"x".repeat(129)] {
            let mut j = minimal();
            j["name"] = bad.into();
            let err = create(j).unwrap_err();
            assert!(err.message.contains("at 'name'"), "{bad}: {}", err.message);
        }
        assert!(is_valid_fleet_name(&"x".repeat(128)));
        let mut j = minimal();
        j["baseCapacity"] = 0.into();
        j["overflowBehavior"] = "SPILL".into();
        j["environmentType"] = "LINUX".into();
        let err = create(j).unwrap_err();
        assert!(
            err.message.starts_with("3 validation errors"),
            "{}",
            err.message
        );
        assert!(err.message.contains(
            "Value '0' at 'baseCapacity' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ));
        assert!(err.message.contains(
            "Value 'SPILL' at 'overflowBehavior' failed to satisfy constraint: Member must satisfy enum value set: [QUEUE, ON_DEMAND]"
        ));
    }

    #[test]
    fn nested_members_and_tags_are_checked() {
        let mut j = minimal();
        j["vpcConfig"] = json!({"subnets": vec!["s"; 17], "securityGroupIds": [""]});
        j["proxyConfiguration"] = json!({"defaultBehavior": "MAYBE", "orderedProxyRules": [{"type": "URL", "effect": "ALLOW", "entities": []}]});
        j["tags"] = json!([{"key": "", "value": "v"}]);
        j["computeConfiguration"] = json!({"machineType": "BIG"});
        let err = create(j).unwrap_err();
        for field in [
            "'vpcConfig.subnets'",
            "'vpcConfig.securityGroupIds.1.member'",
            "'proxyConfiguration.defaultBehavior'",
            "'proxyConfiguration.orderedProxyRules.1.member.type'",
            "'proxyConfiguration.orderedProxyRules.1.member.entities'",
            "'tags.1.member.key'",
            "'computeConfiguration.machineType'",
        ] {
            assert!(err.message.contains(field), "{field}: {}", err.message);
        }
    }

    #[test]
    fn configured_compute_types_need_their_configuration() {
        let mut j = minimal();
        j["computeType"] = "ATTRIBUTE_BASED_COMPUTE".into();
        assert_eq!(
            create(j.clone()).unwrap_err().message,
            "computeConfiguration is required when computeType is ATTRIBUTE_BASED_COMPUTE"
        );
        j["computeConfiguration"] = json!({"vCpu": 4, "memory": 8});
        create(j).unwrap();
    }

    #[test]
    fn updates_change_only_the_members_given() {
        let mut f = create(minimal()).unwrap();
        let before = f.clone();
        apply_update(
            &mut f,
            input(json!({"arn": before.arn, "baseCapacity": 3, "overflowBehavior": "ON_DEMAND"})),
            9.0,
        )
        .unwrap();
        assert_eq!(f.settings.base_capacity, 3);
        assert_eq!(f.settings.overflow_behavior, "ON_DEMAND");
        assert_eq!(f.settings.compute_type, before.settings.compute_type);
        assert_eq!((f.created, f.last_modified), (1.0, 9.0));
        let err = apply_update(&mut f, input(json!({"baseCapacity": -1})), 10.0).unwrap_err();
        assert!(err.message.contains("'baseCapacity'"));
        assert_eq!(
            f.settings.base_capacity, 3,
            "a refused update changes nothing"
        );
        assert!(
            apply_update(
                &mut f,
                input(json!({"computeType": "CUSTOM_INSTANCE_TYPE"})),
                11.0
            )
            .is_err()
        );
        assert_eq!(f.last_modified, 9.0);
    }
}
