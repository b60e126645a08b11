//! What a project's `environment` asks of a container: the image, the platform and the compute
//! limits (pure functions, so they are checked without an engine).

use std::collections::BTreeMap;

/// Prefix of CodeBuild's managed image names.
const MANAGED_PREFIX: &str = "aws/codebuild/";
/// Where the public CodeBuild images are published.
const PUBLIC_MANAGED_PREFIX: &str = "public.ecr.aws/codebuild/";

/// Managed image names (`aws/codebuild/standard:7.0`) mapped to images an engine can pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageTable {
    overrides: BTreeMap<String, String>,
}

impl ImageTable {
    /// A table where `overrides` (exact names) win over the default rule, which maps
    /// `aws/codebuild/<name>` to the public image `public.ecr.aws/codebuild/<name>`.
    pub fn new(overrides: BTreeMap<String, String>) -> Self {
        Self { overrides }
    }

    /// The image to run for `environment.image`.
    pub fn resolve(&self, image: &str) -> String {
        if let Some(mapped) = self.overrides.get(image) {
            return mapped.clone();
        }
        match image.strip_prefix(MANAGED_PREFIX) {
            Some(rest) => format!("{PUBLIC_MANAGED_PREFIX}{rest}"),
            None => image.to_owned(),
        }
    }
}

/// A CPU architecture of Linux containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Amd64,
    Arm64,
}

impl Architecture {
    /// The architecture of an engine (`uname -m` style) or image (`GOARCH` style) name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "amd64" | "x86_64" | "x86-64" => Some(Self::Amd64),
            "arm64" | "aarch64" | "arm64/v8" => Some(Self::Arm64),
            _ => None,
        }
    }

    /// The OCI platform string (`linux/amd64`).
    pub fn platform(self) -> &'static str {
        match self {
            Self::Amd64 => "linux/amd64",
            Self::Arm64 => "linux/arm64",
        }
    }
}

/// What `environment.type` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformRequest {
    pub architecture: Architecture,
    /// Whether the build gets the host's GPUs.
    pub gpu: bool,
}

/// An `environment.type` Kiln cannot run on a Linux host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment type {0} cannot run on this Kiln host, which runs Linux containers only")]
pub struct UnsupportedEnvironmentType(pub String);

impl PlatformRequest {
    /// The platform for an `environment.type` (LINUX_CONTAINER when absent). Windows and macOS
    /// types are refused; StartBuild can call this to refuse them early.
    pub fn for_environment_type(
        environment_type: Option<&str>,
    ) -> Result<Self, UnsupportedEnvironmentType> {
        let (architecture, gpu) = match environment_type.unwrap_or("LINUX_CONTAINER") {
            "LINUX_CONTAINER" | "LINUX_LAMBDA_CONTAINER" | "LINUX_EC2" => {
                (Architecture::Amd64, false)
            }
            "LINUX_GPU_CONTAINER" => (Architecture::Amd64, true),
            "ARM_CONTAINER" | "ARM_LAMBDA_CONTAINER" | "ARM_EC2" => (Architecture::Arm64, false),
            other => return Err(UnsupportedEnvironmentType(other.to_owned())),
        };
        Ok(Self { architecture, gpu })
    }
}

const GIB: u64 = 1024 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// CPU and memory a container may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputeLimits {
    /// Thousandths of a CPU.
    pub millicpus: u64,
    pub memory_bytes: u64,
}

impl ComputeLimits {
    /// CodeBuild's size for a `computeType`; `None` for a type with no fixed size (attribute
    /// based, custom instance) or an unknown one.
    pub fn for_compute_type(compute_type: &str) -> Option<Self> {
        let (cpus, memory_gib) = match compute_type {
            "BUILD_GENERAL1_SMALL" => (2, 3),
            "BUILD_GENERAL1_MEDIUM" => (4, 7),
            "BUILD_GENERAL1_LARGE" => (8, 15),
            "BUILD_GENERAL1_XLARGE" => (36, 70),
            "BUILD_GENERAL1_2XLARGE" => (72, 145),
            lambda => {
                let gib = match lambda {
                    "BUILD_LAMBDA_1GB" => 1,
                    "BUILD_LAMBDA_2GB" => 2,
                    "BUILD_LAMBDA_4GB" => 4,
                    "BUILD_LAMBDA_8GB" => 8,
                    "BUILD_LAMBDA_10GB" => 10,
                    _ => return None,
                };
                // Lambda gives one vCPU per 1,769 MB of memory.
                let memory_bytes = gib * GIB;
                return Some(Self {
                    millicpus: memory_bytes * 1000 / (1769 * MIB),
                    memory_bytes,
                });
            }
        };
        Some(Self {
            millicpus: cpus * 1000,
            memory_bytes: memory_gib * GIB,
        })
    }

    /// These limits lowered to what the host has; the second value says whether any was.
    pub fn capped_at(self, host: Self) -> (Self, bool) {
        let capped = Self {
            millicpus: self.millicpus.min(host.millicpus),
            memory_bytes: self.memory_bytes.min(host.memory_bytes),
        };
        (capped, capped != self)
    }

    /// `2 vCPU, 3 GiB memory`.
    pub fn describe(self) -> String {
        let cpus = self.millicpus as f64 / 1000.0;
        let gib = self.memory_bytes as f64 / GIB as f64;
        format!("{cpus:.3} vCPU, {gib:.3} GiB memory")
            .replace(".000 vCPU", " vCPU")
            .replace(".000 GiB", " GiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_names_map_to_public_images_unless_overridden() {
        let table = ImageTable::new(BTreeMap::from([(
            "aws/codebuild/standard:7.0".to_owned(),
            "registry.local/cb/standard:7".to_owned(),
        )]));
        assert_eq!(
            table.resolve("aws/codebuild/standard:7.0"),
            "registry.local/cb/standard:7"
        );
        assert_eq!(
            table.resolve("aws/codebuild/amazonlinux-x86_64-standard:5.0"),
            "public.ecr.aws/codebuild/amazonlinux-x86_64-standard:5.0"
        );
        assert_eq!(table.resolve("node:20"), "node:20");
        assert_eq!(
            table.resolve("123.dkr.ecr.us-east-1.amazonaws.com/aws/codebuild/x:1"),
            "123.dkr.ecr.us-east-1.amazonaws.com/aws/codebuild/x:1"
        );
    }

    #[test]
    fn environment_types_map_to_platforms() {
        let amd = PlatformRequest::for_environment_type(Some("LINUX_CONTAINER")).unwrap();
        assert_eq!(amd.architecture.platform(), "linux/amd64");
        assert!(!amd.gpu);
        let arm = PlatformRequest::for_environment_type(Some("ARM_CONTAINER")).unwrap();
        assert_eq!(arm.architecture.platform(), "linux/arm64");
        assert!(
            PlatformRequest::for_environment_type(Some("LINUX_GPU_CONTAINER"))
                .unwrap()
                .gpu
        );
        assert_eq!(
            PlatformRequest::for_environment_type(None).unwrap(),
            amd,
            "LINUX_CONTAINER is the default"
        );
        let err = PlatformRequest::for_environment_type(Some("WINDOWS_SERVER_2022_CONTAINER"))
            .unwrap_err();
        assert!(err.to_string().contains("WINDOWS_SERVER_2022_CONTAINER"));
        assert!(PlatformRequest::for_environment_type(Some("MAC_ARM")).is_err());
        assert_eq!(Architecture::parse("x86_64"), Some(Architecture::Amd64));
        assert_eq!(Architecture::parse("aarch64"), Some(Architecture::Arm64));
        assert_eq!(Architecture::parse("s390x"), None);
    }

    #[test]
    fn compute_types_have_codebuild_sizes_capped_at_the_host() {
        let small = ComputeLimits::for_compute_type("BUILD_GENERAL1_SMALL").unwrap();
        assert_eq!(small.millicpus, 2000);
        assert_eq!(small.memory_bytes, 3 * GIB);
        assert_eq!(small.describe(), "2 vCPU, 3 GiB memory");
        let large = ComputeLimits::for_compute_type("BUILD_GENERAL1_2XLARGE").unwrap();
        assert_eq!((large.millicpus, large.memory_bytes), (72_000, 145 * GIB));
        let lambda = ComputeLimits::for_compute_type("BUILD_LAMBDA_10GB").unwrap();
        assert_eq!(lambda.memory_bytes, 10 * GIB);
        assert_eq!(lambda.millicpus, 5788);
        assert_eq!(
            ComputeLimits::for_compute_type("ATTRIBUTE_BASED_COMPUTE"),
            None
        );

        let host = ComputeLimits {
            millicpus: 2000,
            memory_bytes: 24 * GIB,
        };
        assert_eq!(small.capped_at(host), (small, false));
        let medium = ComputeLimits::for_compute_type("BUILD_GENERAL1_MEDIUM").unwrap();
        let (capped, was_capped) = medium.capped_at(host);
        assert!(was_capped);
        assert_eq!((capped.millicpus, capped.memory_bytes), (2000, 7 * GIB));
    }
}
