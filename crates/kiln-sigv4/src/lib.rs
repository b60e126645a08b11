//! AWS Signature Version 4 verification for Kiln's AWS JSON 1.1 API.
//!
//! Pure: the caller buffers the (size-capped) body, looks up keys and supplies the clock.
//! Follows what botocore and aws-sigv4 send for non-S3 services: the payload hash is always
//! computed from the raw body, paths are double-encoded, `host` and every `x-amz-*` header must
//! be signed, and the request time must lie within ±15 minutes of the server's.
//!
//! ```
//! use kiln_sigv4::{AccessKey, SecretKey, Verifier, VerifyRequest};
//!
//! let keys = |access_key_id: &str| {
//!     (access_key_id == "AKIDEXAMPLE").then(|| AccessKey {
//!         secret: SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
//!         principal: "123456789012".to_owned(),
//!     })
//! };
//! let (method, uri, headers) = (http::Method::POST, http::Uri::from_static("/"), http::HeaderMap::new());
//! let request = VerifyRequest { method: &method, uri: &uri, headers: &headers, body: b"{}" };
//! let error = Verifier::new("eu-west-1")
//!     .verify(&request, &keys, time::OffsetDateTime::now_utc())
//!     .unwrap_err();
//! // Reply 400 with {"__type": error.aws_code(), "message": error.to_string()}.
//! assert_eq!(error.aws_code(), "MissingAuthenticationTokenException");
//! ```

mod authorization;
mod canonical;
mod date;
mod error;
mod secret;

use http::{HeaderMap, Method, Uri, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::authorization::{ALGORITHM, Authorization, printable_prefix};
use crate::canonical::{canonical_header_value, canonical_query, canonical_uri};
use crate::secret::SigningKey;

pub use crate::date::AmzDate;
pub use crate::error::SigV4Error;
pub use crate::secret::SecretKey;

/// The service name in Kiln's credential scopes.
pub const CODEBUILD_SERVICE: &str = "codebuild";
/// AWS's allowed clock skew, in both directions.
pub const DEFAULT_MAX_SKEW: Duration = Duration::minutes(15);

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const SCOPE_TERMINATOR: &str = "aws4_request";

/// The parts of a received request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// The raw body bytes, before any parsing.
    pub body: &'a [u8],
}

/// A stored access key.
#[derive(Debug, Clone)]
pub struct AccessKey {
    pub secret: SecretKey,
    /// Whom the key belongs to (an account id or another opaque principal).
    pub principal: String,
}

/// Finds the secret for an access key id.
pub trait KeyLookup {
    fn lookup(&self, access_key_id: &str) -> Option<AccessKey>;
}

impl<F: Fn(&str) -> Option<AccessKey>> KeyLookup for F {
    fn lookup(&self, access_key_id: &str) -> Option<AccessKey> {
        self(access_key_id)
    }
}

/// Who signed a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub principal: String,
    /// The region from the credential scope, for ARNs in responses.
    pub region: String,
    pub signed_at: OffsetDateTime,
}

/// Verifies SigV4 `Authorization` headers for one service.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// `None` accepts any region in the credential scope.
    region: Option<String>,
    service: String,
    max_skew: Duration,
}

impl Verifier {
    /// A verifier for `codebuild` in exactly `region`.
    pub fn new(region: impl Into<String>) -> Self {
        Self {
            region: Some(region.into()),
            ..Self::accepting_any_region()
        }
    }

    /// A verifier for `codebuild` that accepts whatever region the client signed for.
    pub fn accepting_any_region() -> Self {
        Self {
            region: None,
            service: CODEBUILD_SERVICE.to_owned(),
            max_skew: DEFAULT_MAX_SKEW,
        }
    }

    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }

    /// Checks the request's signature against the key `keys` holds for its access key id.
    pub fn verify<K: KeyLookup + ?Sized>(
        &self,
        request: &VerifyRequest<'_>,
        keys: &K,
        now: OffsetDateTime,
    ) -> Result<Verified, SigV4Error> {
        let header_text = authorization_header(request)?;
        let authorization = Authorization::parse(header_text)?;
        let (signed_at, date_header) = request_date(request.headers)?;
        self.check_scope(&authorization, signed_at)?;
        self.check_skew(signed_at, now)?;
        check_signed_headers(&authorization, request.headers, date_header)?;
        let payload_hash = payload_hash(request)?;

        let key = keys
            .lookup(authorization.access_key_id)
            .ok_or(SigV4Error::UnrecognizedClient)?;
        let canonical_request = canonical_request(request, &authorization, &payload_hash)?;
        let string_to_sign = format!(
            "{ALGORITHM}\n{signed_at}\n{}\n{}",
            authorization.scope(),
            hex::encode(Sha256::digest(&canonical_request)),
        );
        let signing_key = SigningKey::derive(
            &key.secret,
            authorization.scope_date,
            authorization.region,
            authorization.service,
        );
        let expected = signing_key.sign(string_to_sign.as_bytes());
        let provided =
            hex::decode(authorization.signature).map_err(|_| SigV4Error::SignatureMismatch)?;
        if !bool::from(expected.as_slice().ct_eq(&provided)) {
            return Err(SigV4Error::SignatureMismatch);
        }

        Ok(Verified {
            access_key_id: authorization.access_key_id.to_owned(),
            principal: key.principal,
            region: authorization.region.to_owned(),
            signed_at: signed_at.0,
        })
    }

    fn check_scope(
        &self,
        authorization: &Authorization<'_>,
        signed_at: AmzDate,
    ) -> Result<(), SigV4Error> {
        if authorization.terminator != SCOPE_TERMINATOR {
            return Err(SigV4Error::WrongTerminator {
                found: printable_prefix(authorization.terminator).to_owned(),
            });
        }
        if authorization.service != self.service {
            return Err(SigV4Error::WrongService {
                expected: self.service.clone(),
            });
        }
        if self
            .region
            .as_deref()
            .is_some_and(|region| region != authorization.region)
        {
            return Err(SigV4Error::WrongRegion);
        }
        if authorization.scope_date != signed_at.day() {
            return Err(SigV4Error::ScopeDateMismatch {
                scope_date: printable_prefix(authorization.scope_date).to_owned(),
                request_day: signed_at.day(),
                signed_at,
            });
        }
        Ok(())
    }

    fn check_skew(&self, signed_at: AmzDate, now: OffsetDateTime) -> Result<(), SigV4Error> {
        let skew_minutes = self.max_skew.whole_minutes();
        let earliest = now - self.max_skew;
        let latest = now + self.max_skew;
        if signed_at.0 < earliest {
            return Err(SigV4Error::SignatureExpired {
                signed_at,
                earliest: AmzDate(earliest),
                now: AmzDate(now),
                skew_minutes,
            });
        }
        if signed_at.0 > latest {
            return Err(SigV4Error::SignatureNotYetCurrent {
                signed_at,
                latest: AmzDate(latest),
                now: AmzDate(now),
                skew_minutes,
            });
        }
        Ok(())
    }
}

/// The access key id a request claims, so that an async caller can fetch the key before
/// calling [`Verifier::verify`]. `None` if there is no parseable `Authorization` header.
pub fn claimed_access_key_id(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().filter(|_| values.next().is_none())?;
    Authorization::parse(value.to_str().ok()?)
        .ok()
        .map(|authorization| authorization.access_key_id)
}

fn authorization_header<'a>(request: &VerifyRequest<'a>) -> Result<&'a str, SigV4Error> {
    let mut values = request.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        let presigned = request.uri.query().is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair.starts_with("X-Amz-Algorithm="))
        });
        return Err(if presigned {
            SigV4Error::IncompleteSignature(
                "Presigned query authentication is not supported; sign the Authorization header instead."
                    .to_owned(),
            )
        } else {
            SigV4Error::MissingAuthenticationToken
        });
    };
    if values.next().is_some() {
        return Err(SigV4Error::IncompleteSignature(
            "Request has more than one Authorization header.".to_owned(),
        ));
    }
    value.to_str().map_err(|_| {
        SigV4Error::IncompleteSignature(
            "Authorization header contains invalid characters.".to_owned(),
        )
    })
}

/// The request time and the header it came from.
fn request_date(headers: &HeaderMap) -> Result<(AmzDate, &'static str), SigV4Error> {
    let (name, value, parse): (_, _, fn(&str) -> Option<AmzDate>) = match (
        headers.get(X_AMZ_DATE),
        headers.get(header::DATE),
    ) {
        (Some(value), _) => ("x-amz-date", value, AmzDate::parse_basic),
        (None, Some(value)) => ("date", value, AmzDate::parse_http_date),
        (None, None) => {
            return Err(SigV4Error::IncompleteSignature(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                        .to_owned(),
                ));
        }
    };
    let text = value.to_str().unwrap_or_default();
    let date = parse(text).ok_or_else(|| {
        SigV4Error::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            printable_prefix(text)
        ))
    })?;
    Ok((date, name))
}

/// `host`, the date header and every `x-amz-*` header must be signed, or a third party could
/// replay or alter them.
fn check_signed_headers(
    authorization: &Authorization<'_>,
    headers: &HeaderMap,
    date_header: &str,
) -> Result<(), SigV4Error> {
    let is_signed = |name: &str| authorization.signed_headers.contains(&name);
    if !is_signed("host") {
        return Err(SigV4Error::HeaderNotSigned {
            header: "host".to_owned(),
        });
    }
    let must_be_signed = headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| name.starts_with("x-amz-"))
        .chain([date_header]);
    for name in must_be_signed {
        if !is_signed(name) {
            return Err(SigV4Error::HeaderNotSigned {
                header: name.to_owned(),
            });
        }
    }
    Ok(())
}

/// The payload hash: always the hash of the body received, or `UNSIGNED-PAYLOAD` if the client
/// said so in `x-amz-content-sha256`.
fn payload_hash(request: &VerifyRequest<'_>) -> Result<String, SigV4Error> {
    let body_hash = hex::encode(Sha256::digest(request.body));
    match request.headers.get(X_AMZ_CONTENT_SHA256) {
        None => Ok(body_hash),
        Some(claimed) if claimed == UNSIGNED_PAYLOAD => Ok(UNSIGNED_PAYLOAD.to_owned()),
        // The client signed its own spelling of the hash, which may be uppercase.
        Some(claimed)
            if claimed
                .as_bytes()
                .eq_ignore_ascii_case(body_hash.as_bytes()) =>
        {
            Ok(String::from_utf8_lossy(claimed.as_bytes()).into_owned())
        }
        Some(_) => Err(SigV4Error::ContentHashMismatch),
    }
}

fn canonical_request(
    request: &VerifyRequest<'_>,
    authorization: &Authorization<'_>,
    payload_hash: &str,
) -> Result<Vec<u8>, SigV4Error> {
    let mut canonical = Vec::with_capacity(512 + request.uri.path().len());
    canonical.extend_from_slice(request.method.as_str().as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(canonical_uri(request.uri.path()).as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(canonical_query(request.uri.query()).as_bytes());
    canonical.push(b'\n');
    for &name in &authorization.signed_headers {
        canonical.extend_from_slice(name.as_bytes());
        canonical.push(b':');
        canonical.extend_from_slice(&signed_header_value(request, name)?);
        canonical.push(b'\n');
    }
    canonical.push(b'\n');
    canonical.extend_from_slice(authorization.signed_headers_raw.as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(payload_hash.as_bytes());
    Ok(canonical)
}

/// All values of a header, each canonicalised, joined by commas.
fn signed_header_value(request: &VerifyRequest<'_>, name: &str) -> Result<Vec<u8>, SigV4Error> {
    let mut values = request.headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        // HTTP/2 carries the host in the `:authority` pseudo-header, which ends up in the URI.
        if let ("host", Some(authority)) = (name, request.uri.authority()) {
            return Ok(canonical_header_value(authority.as_str().as_bytes()));
        }
        return Err(SigV4Error::SignedHeaderAbsent {
            header: name.to_owned(),
        });
    }
    let mut joined = Vec::new();
    for (index, value) in values.enumerate() {
        if index > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(&canonical_header_value(value.as_bytes()));
    }
    Ok(joined)
}

#[cfg(test)]
mod tests;
