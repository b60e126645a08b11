//! API authentication: SigV4 signatures checked against the configured access keys, each bound
//! to an account.

use std::collections::HashMap;

use crate::service::Service;
use axum::http::{HeaderMap, Method, Uri};
use kiln_domain::caller::Caller;
use kiln_domain::{ApiError, ErrorKind};
use kiln_sigv4::{AccessKey, KeyLookup, SecretKey, SigV4Error, Verifier, VerifyRequest};

/// One access key pair and the account it acts for.
#[derive(Debug, Clone)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: SecretKey,
    pub account_id: String,
}

/// The access keys Kiln accepts, and a SigV4 verifier for its region per service.
pub struct KeyRing {
    keys: HashMap<String, Credential>,
    verifiers: HashMap<Service, Verifier>,
}

impl KeyRing {
    pub fn new(region: &str, credentials: Vec<Credential>) -> Self {
        KeyRing {
            keys: credentials
                .into_iter()
                .map(|c| (c.access_key_id.clone(), c))
                .collect(),
            verifiers: Service::ALL
                .into_iter()
                .map(|service| {
                    let verifier = Verifier::new(region).with_service(service.signing_name());
                    (service, verifier)
                })
                .collect(),
        }
    }

    /// The credential with this access key id, for sign-in forms that check a secret directly.
    pub fn get(&self, access_key_id: &str) -> Option<&Credential> {
        self.keys.get(access_key_id)
    }
}

impl KeyLookup for KeyRing {
    fn lookup(&self, access_key_id: &str) -> Option<AccessKey> {
        self.keys.get(access_key_id).map(|c| AccessKey {
            secret: c.secret_access_key.clone(),
            principal: c.account_id.clone(),
        })
    }
}

fn sigv4_error(err: SigV4Error) -> ApiError {
    let kind = match err.aws_code() {
        "MissingAuthenticationTokenException" => ErrorKind::MissingAuthenticationToken,
        "IncompleteSignatureException" => ErrorKind::IncompleteSignature,
        "UnrecognizedClientException" => ErrorKind::UnrecognizedClient,
        _ => ErrorKind::InvalidSignature,
    };
    ApiError::new(kind, err.to_string())
}

/// Verifies the request's signature, made for `service`, against `keys` and names the caller.
pub fn authenticate(
    keys: &KeyRing,
    service: Service,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, ApiError> {
    let request = VerifyRequest {
        method,
        uri,
        headers,
        body,
    };
    let verifier = keys
        .verifiers
        .get(&service)
        .ok_or_else(ApiError::internal)?;
    let verified = verifier
        .verify(&request, keys, time::OffsetDateTime::now_utc())
        .map_err(sigv4_error)?;
    Ok(Caller {
        account_id: verified.principal,
        access_key_id: verified.access_key_id,
    })
}
