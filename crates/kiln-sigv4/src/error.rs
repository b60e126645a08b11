//! Verification failures, each mapped to the `__type` and message AWS JSON services send.

use crate::date::AmzDate;

/// Why a request failed SigV4 verification.
///
/// `Display` is the message AWS sends; [`SigV4Error::aws_code`] is the `__type`.
/// No variant carries secret material or the provided signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The `Authorization` header (or a header it depends on) is malformed or incomplete.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The request time is more than the allowed skew before `now`.
    #[error(
        "Signature expired: {signed_at} is now earlier than {earliest} ({now} - {skew_minutes} min.)"
    )]
    SignatureExpired {
        signed_at: AmzDate,
        earliest: AmzDate,
        now: AmzDate,
        skew_minutes: i64,
    },
    /// The request time is more than the allowed skew after `now`.
    #[error(
        "Signature not yet current: {signed_at} is still later than {latest} ({now} + {skew_minutes} min.)"
    )]
    SignatureNotYetCurrent {
        signed_at: AmzDate,
        latest: AmzDate,
        now: AmzDate,
        skew_minutes: i64,
    },
    /// The credential scope names another service.
    #[error("Credential should be scoped to correct service: '{expected}'. ")]
    WrongService { expected: String },
    /// The credential scope names a region this server does not serve.
    #[error("Credential should be scoped to a valid region. ")]
    WrongRegion,
    /// The credential scope does not end in `aws4_request`.
    #[error("Credential should be scoped with a valid terminator: 'aws4_request', not '{found}'. ")]
    WrongTerminator { found: String },
    /// The credential scope date is not the day of the request time.
    #[error(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{request_day}', from '{signed_at}'."
    )]
    ScopeDateMismatch {
        scope_date: String,
        request_day: String,
        signed_at: AmzDate,
    },
    /// A header that must be covered by the signature is not in `SignedHeaders`.
    #[error("'{header}' must be a 'SignedHeader' in the AWS Authorization.")]
    HeaderNotSigned { header: String },
    /// `SignedHeaders` names a header the request does not carry.
    #[error("Header '{header}' is listed in SignedHeaders but not present in the request.")]
    SignedHeaderAbsent { header: String },
    /// `x-amz-content-sha256` disagrees with the body actually received.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentHashMismatch,
    /// No secret is known for the access key id.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The recomputed signature differs from the provided one.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    SignatureMismatch,
}

impl SigV4Error {
    /// The AWS JSON 1.1 `__type` for this failure.
    pub fn aws_code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::SignatureExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::WrongService { .. }
            | Self::WrongRegion
            | Self::WrongTerminator { .. }
            | Self::ScopeDateMismatch { .. }
            | Self::HeaderNotSigned { .. }
            | Self::SignedHeaderAbsent { .. }
            | Self::ContentHashMismatch
            | Self::SignatureMismatch => "InvalidSignatureException",
        }
    }
}
