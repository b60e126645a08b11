//! The AWS services Kiln answers on `POST /`. Every one speaks AWS JSON 1.1, names its
//! operation in `X-Amz-Target` after a prefix of its own, and is signed (SigV4) for its own
//! service name, so a client configured for one service cannot call another by mistake.

use kiln_domain::{ApiError, ErrorKind};

/// A service served on `POST /`, told apart by its `X-Amz-Target` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    CodeBuild,
    /// The CloudWatch Logs subset that reads build logs.
    Logs,
    /// The Systems Manager Parameter Store subset.
    Ssm,
    SecretsManager,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::CodeBuild,
        Service::Logs,
        Service::Ssm,
        Service::SecretsManager,
    ];

    /// The `X-Amz-Target` prefix, up to and including the dot before the operation (botocore's
    /// `targetPrefix`).
    pub fn target_prefix(self) -> &'static str {
        match self {
            Service::CodeBuild => "CodeBuild_20161006.",
            Service::Logs => "Logs_20140328.",
            Service::Ssm => "AmazonSSM.",
            Service::SecretsManager => "secretsmanager.",
        }
    }

    /// The service name in the SigV4 credential scope.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::CodeBuild => "codebuild",
            Service::Logs => "logs",
            Service::Ssm => "ssm",
            Service::SecretsManager => "secretsmanager",
        }
    }

    /// The answer to an operation of this service that Kiln does not serve.
    pub fn unserved(self, operation: &str) -> ApiError {
        ApiError::new(
            ErrorKind::UnknownOperation,
            format!(
                "Kiln does not serve the {} operation {}",
                self.signing_name(),
                crate::protocol::truncate(operation, 128)
            ),
        )
    }

    /// The service and operation an `X-Amz-Target` names.
    pub fn of_target(target: &str) -> Option<(Service, &str)> {
        Service::ALL.into_iter().find_map(|service| {
            target
                .strip_prefix(service.target_prefix())
                .map(|operation| (service, operation))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Service;

    #[test]
    fn targets_name_their_service() {
        assert_eq!(
            Service::of_target("CodeBuild_20161006.ListProjects"),
            Some((Service::CodeBuild, "ListProjects"))
        );
        assert_eq!(
            Service::of_target("Logs_20140328.GetLogEvents"),
            Some((Service::Logs, "GetLogEvents"))
        );
        assert_eq!(
            Service::of_target("AmazonSSM.GetParameter"),
            Some((Service::Ssm, "GetParameter"))
        );
        assert_eq!(
            Service::of_target("secretsmanager.GetSecretValue"),
            Some((Service::SecretsManager, "GetSecretValue"))
        );
        assert_eq!(Service::of_target("Other.ListProjects"), None);
        assert_eq!(Service::of_target("CodeBuild_20161006"), None);
    }
}
