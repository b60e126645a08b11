//! Whether an agent's machine fits its fleet: the fleet's `environmentType` names an OS and a
//! CPU architecture (an ARM fleet takes only arm64 agents), and its `computeType` a size the
//! machine must have at least (docs/fleets.md has the table).

use super::FleetSettings;
use crate::agent::Registration;

/// GiB of memory and vCPUs of each general compute type (the model's sizes).
const GENERAL_SIZES: &[(&str, u64, u32)] = &[
    ("BUILD_GENERAL1_SMALL", 4, 2),
    ("BUILD_GENERAL1_MEDIUM", 8, 4),
    ("BUILD_GENERAL1_LARGE", 16, 8),
    ("BUILD_GENERAL1_XLARGE", 72, 36),
    ("BUILD_GENERAL1_2XLARGE", 144, 72),
];

/// A machine's reported memory is a little under its nominal size (the kernel keeps some).
const MEMORY_SLACK: f64 = 0.85;

/// Why the agent cannot serve the fleet, in words for its operator; `Ok` when it can.
pub fn check_agent_platform(fleet: &FleetSettings, agent: &Registration) -> Result<(), String> {
    let environment = fleet.environment_type.as_str();
    let (os, arch) = match environment {
        "ARM_CONTAINER" | "ARM_EC2" | "ARM_LAMBDA_CONTAINER" => ("linux", "aarch64"),
        "MAC_ARM" => ("macos", "aarch64"),
        e if e.starts_with("WINDOWS") => ("windows", "x86_64"),
        _ => ("linux", "x86_64"),
    };
    if agent.os != os || agent.arch != arch {
        return Err(format!(
            "this fleet's environmentType {environment} runs on {os}/{arch}; this agent is {}/{}",
            agent.os, agent.arch
        ));
    }
    if environment == "LINUX_GPU_CONTAINER" && !agent.labels.iter().any(|l| l == "gpu") {
        return Err(
            "this fleet's environmentType LINUX_GPU_CONTAINER needs an agent started with \
             --label gpu"
                .into(),
        );
    }
    let compute = fleet.compute_type.as_str();
    let needed = match GENERAL_SIZES.iter().find(|(name, ..)| *name == compute) {
        Some(&(_, gib, cpus)) => Some((gib, cpus)),
        None if compute.starts_with("BUILD_LAMBDA") => {
            return Err(format!(
                "computeType {compute} is AWS Lambda compute, which agents do not provide"
            ));
        }
        // ATTRIBUTE_BASED_COMPUTE, CUSTOM_INSTANCE_TYPE: what computeConfiguration asks.
        None => fleet.compute_configuration.as_ref().map(|c| {
            (
                u64::try_from(c.memory.unwrap_or(0)).unwrap_or(0),
                u32::try_from(c.v_cpu.unwrap_or(0)).unwrap_or(0),
            )
        }),
    };
    if let Some((gib, cpus)) = needed {
        let memory_ok = agent.memory_mib as f64 >= gib as f64 * 1024.0 * MEMORY_SLACK;
        if agent.cpus < cpus || !memory_ok {
            return Err(format!(
                "this fleet's computeType {compute} needs {cpus} vCPUs and {gib} GiB of memory; \
                 this machine has {} CPUs and {} MiB",
                agent.cpus, agent.memory_mib
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Test code: a failed step fails the test.
mod tests {
    use super::*;

    fn fleet(environment: &str, compute: &str) -> FleetSettings {
        serde_json::from_value(serde_json::json!({
            "baseCapacity": 1, "environmentType": environment, "computeType": compute,
            "overflowBehavior": "QUEUE"
        }))
        .unwrap()
    }

    fn machine(os: &str, arch: &str, cpus: u32, memory_mib: u64) -> Registration {
        Registration {
            name: "m".into(),
            version: "1".into(),
            os: os.into(),
            arch: arch.into(),
            executor: "local".into(),
            capacity: 1,
            labels: Vec::new(),
            cpus,
            memory_mib,
            fleet: None,
        }
    }

    #[test]
    fn an_arm_fleet_takes_only_arm64_agents_and_sizes_are_minimums() {
        let x86 = machine("linux", "x86_64", 2, 23_000);
        let arm = machine("linux", "aarch64", 8, 16_000);
        let small = fleet("LINUX_CONTAINER", "BUILD_GENERAL1_SMALL");
        assert_eq!(check_agent_platform(&small, &x86), Ok(()));
        assert!(check_agent_platform(&small, &arm).is_err());
        let arm_fleet = fleet("ARM_CONTAINER", "BUILD_GENERAL1_LARGE");
        assert_eq!(check_agent_platform(&arm_fleet, &arm), Ok(()));
        let refused = check_agent_platform(&arm_fleet, &x86).unwrap_err();
        assert!(refused.contains("linux/aarch64"), "{refused}");
        let medium = fleet("LINUX_CONTAINER", "BUILD_GENERAL1_MEDIUM");
        let refused = check_agent_platform(&medium, &x86).unwrap_err();
        assert!(refused.contains("needs 4 vCPUs"), "{refused}");
        assert!(
            check_agent_platform(&fleet("LINUX_LAMBDA_CONTAINER", "BUILD_LAMBDA_1GB"), &x86)
                .is_err()
        );
        assert!(
            check_agent_platform(&fleet("LINUX_GPU_CONTAINER", "BUILD_GENERAL1_SMALL"), &x86)
                .is_err()
        );
        let gpu = Registration {
            labels: vec!["gpu".into()],
            ..x86.clone()
        };
        assert_eq!(
            check_agent_platform(&fleet("LINUX_GPU_CONTAINER", "BUILD_GENERAL1_SMALL"), &gpu),
            Ok(())
        );
    }
}
