//! The choices the project form offers: source providers, images, compute types, variable
//! types, and the managed images of `ListCuratedEnvironmentImages`.

use kiln_domain::shapes::ListCuratedEnvironmentImagesOutput;

/// Source providers offered, with their labels.
pub const SOURCE_PROVIDERS: &[(&str, &str)] = &[
    ("GITHUB", "GitHub"),
    ("GITHUB_ENTERPRISE", "GitHub Enterprise"),
    ("BITBUCKET", "Bitbucket"),
    ("GITLAB", "GitLab"),
    ("CODECOMMIT", "AWS CodeCommit"),
    ("S3", "Amazon S3"),
    ("NO_SOURCE", "No source"),
];

/// Why the badge option is off for some providers.
pub const BADGE_UNAVAILABLE: &str = "Build badges need a Git source: builds from Amazon S3 or without a source have no branch to report on.";

/// Custom image environment types offered.
pub const CUSTOM_ENVIRONMENT_TYPES: &[(&str, &str)] = &[
    ("LINUX_CONTAINER", "Linux"),
    ("ARM_CONTAINER", "ARM"),
    ("LINUX_GPU_CONTAINER", "Linux GPU"),
    ("WINDOWS_SERVER_2019_CONTAINER", "Windows Server 2019"),
];

pub const COMPUTE_TYPES: &[(&str, &str)] = &[
    ("BUILD_GENERAL1_SMALL", "Small: 3 GB memory, 2 vCPUs"),
    ("BUILD_GENERAL1_MEDIUM", "Medium: 7 GB memory, 4 vCPUs"),
    ("BUILD_GENERAL1_LARGE", "Large: 15 GB memory, 8 vCPUs"),
    ("BUILD_GENERAL1_XLARGE", "X-Large: 70 GB memory, 36 vCPUs"),
    (
        "BUILD_GENERAL1_2XLARGE",
        "2X-Large: 145 GB memory, 72 vCPUs",
    ),
];

pub const ENV_VAR_TYPES: &[(&str, &str)] = &[
    ("PLAINTEXT", "Plaintext"),
    ("PARAMETER_STORE", "Parameter"),
    ("SECRETS_MANAGER", "Secrets Manager"),
];

pub fn label_of(table: &[(&str, &str)], value: &str) -> String {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| value.to_string(), |(_, l)| (*l).to_string())
}

/// A managed image of `ListCuratedEnvironmentImages`.
#[derive(Debug, Clone, PartialEq)]
pub struct CuratedImage {
    pub platform: String,
    pub language: String,
    pub name: String,
    pub description: String,
    pub versions: Vec<String>,
}

impl CuratedImage {
    /// The environment type a managed image runs as.
    pub fn environment_type(&self) -> &'static str {
        if self.name.contains("aarch64") {
            "ARM_CONTAINER"
        } else {
            "LINUX_CONTAINER"
        }
    }
}

pub fn platform_label(platform: &str) -> String {
    match platform {
        "UBUNTU" => "Ubuntu".into(),
        "AMAZON_LINUX_2" | "AMAZON_LINUX" => "Amazon Linux".into(),
        "WINDOWS_SERVER_2019" => "Windows Server 2019".into(),
        other => other.replace('_', " "),
    }
}

pub fn runtime_label(language: &str) -> String {
    match language {
        "STANDARD" => "Standard".into(),
        other => other.replace('_', " "),
    }
}

/// The images of a `ListCuratedEnvironmentImages` output.
pub fn curated_images(output: &ListCuratedEnvironmentImagesOutput) -> Vec<CuratedImage> {
    let mut images = Vec::new();
    for platform in &output.platforms {
        for language in &platform.languages {
            for image in &language.images {
                images.push(CuratedImage {
                    platform: platform.platform.clone(),
                    language: language.language.clone(),
                    name: image.name.clone(),
                    description: image.description.clone(),
                    versions: image.versions.clone(),
                });
            }
        }
    }
    images
}

/// Whether a project with `source_type` can have a build badge.
pub fn badge_available(source_type: &str) -> bool {
    !matches!(source_type, "S3" | "NO_SOURCE" | "CODEPIPELINE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curated_images_are_read() {
        let images = curated_images(&crate::api::projects::curated_images());
        assert!(images.len() >= 2);
        assert!(
            images
                .iter()
                .all(|i| !i.name.is_empty() && !i.versions.is_empty())
        );
        assert!(
            images
                .iter()
                .any(|i| i.environment_type() == "ARM_CONTAINER")
        );
    }
}
