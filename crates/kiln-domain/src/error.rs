//! The one catalogue of API errors. Every error Kiln returns on the CodeBuild API is an [`ApiError`]
//! whose kind names the AWS `__type`; the wire protocol decides how it is encoded.

use std::fmt;

/// Declares the catalogue once: variant, wire `__type`, HTTP status.
macro_rules! error_catalogue {
    ($($variant:ident => $name:literal, $status:literal;)*) => {
        /// Kinds of API error, each with its AWS `__type` name and HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKind { $($variant,)* }

        impl ErrorKind {
            /// The `__type` that AWS clients read.
            pub fn type_name(self) -> &'static str {
                match self { $(ErrorKind::$variant => $name,)* }
            }

            /// The HTTP status the JSON protocol answers with.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorKind::$variant => $status,)* }
            }

            /// Every kind, for documentation and tests.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)*];
        }
    };
}

error_catalogue! {
    InvalidInput => "InvalidInputException", 400;
    ResourceNotFound => "ResourceNotFoundException", 400;
    ResourceAlreadyExists => "ResourceAlreadyExistsException", 400;
    AccountLimitExceeded => "AccountLimitExceededException", 400;
    OAuthProvider => "OAuthProviderException", 400;
    Serialization => "SerializationException", 400;
    UnknownOperation => "UnknownOperationException", 400;
    RequestEntityTooLarge => "RequestEntityTooLargeException", 413;
    MissingAuthenticationToken => "MissingAuthenticationTokenException", 400;
    IncompleteSignature => "IncompleteSignatureException", 400;
    InvalidSignature => "InvalidSignatureException", 400;
    UnrecognizedClient => "UnrecognizedClientException", 400;
    Throttling => "ThrottlingException", 400;
    InternalFailure => "InternalFailure", 500;
    ServiceUnavailable => "ServiceUnavailableException", 503;
    // The agent protocol (`kiln agent`, docs/agents.md).
    AgentUnauthorized => "AgentUnauthorizedException", 401;
    AgentSessionGone => "AgentSessionGoneException", 410;
    BuildNotHeld => "BuildNotHeldException", 409;
    LogGap => "LogGapException", 409;
    // CloudWatch Logs (docs/cloudwatch-logs.md) and Secrets Manager; both share
    // ResourceNotFoundException and ServiceUnavailableException with CodeBuild.
    InvalidParameter => "InvalidParameterException", 400;
    // Parameter Store (botocore's ssm/2014-11-06 model).
    ParameterNotFound => "ParameterNotFound", 400;
    ParameterAlreadyExists => "ParameterAlreadyExists", 400;
    ParameterVersionNotFound => "ParameterVersionNotFound", 400;
    UnsupportedParameterType => "UnsupportedParameterType", 400;
    InvalidNextToken => "InvalidNextToken", 400;
    Validation => "ValidationException", 400;
    // Secrets Manager (botocore's secretsmanager/2017-10-17 model); its missing secret is
    // `ResourceNotFound`, the same name as CodeBuild's.
    ResourceExists => "ResourceExistsException", 400;
    InvalidRequest => "InvalidRequestException", 400;
    InvalidNextTokenException => "InvalidNextTokenException", 400;
    DecryptionFailure => "DecryptionFailure", 400;
}

/// An error as the API reports it: a kind from the catalogue and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, message)
    }

    pub fn internal() -> Self {
        Self::new(ErrorKind::InternalFailure, "An internal error occurred.")
    }

    /// Kiln cannot store anything right now (its disk is full); the same call may work later.
    pub fn storage_unavailable() -> Self {
        Self::new(
            ErrorKind::ServiceUnavailable,
            "Kiln cannot write to its storage right now (its disk is full or failing). Try again later.",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.type_name(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names of the SSM and Secrets Manager models that do not end in `Exception`.
    const SSM_PLAIN_NAMES: &[&str] = &[
        "ParameterNotFound",
        "ParameterAlreadyExists",
        "ParameterVersionNotFound",
        "UnsupportedParameterType",
        "InvalidNextToken",
        "DecryptionFailure",
    ];

    #[test]
    fn type_names_end_in_exception_except_internal_failure_and_the_ssm_models() {
        for kind in ErrorKind::ALL {
            let name = kind.type_name();
            assert!(
                name.ends_with("Exception")
                    || name == "InternalFailure"
                    || SSM_PLAIN_NAMES.contains(&name),
                "{name}"
            );
        }
    }
}
