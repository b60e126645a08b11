//! Parsing of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.

use crate::SigV4Error;

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Longer headers are rejected before parsing.
const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// More signed headers than this is not a real client.
const MAX_SIGNED_HEADERS: usize = 64;

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Authorization<'a> {
    pub access_key_id: &'a str,
    pub scope_date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub terminator: &'a str,
    /// Lowercase header names, in the order the client listed them.
    pub signed_headers: Vec<&'a str>,
    /// The raw `SignedHeaders` value, as it enters the canonical request.
    pub signed_headers_raw: &'a str,
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    pub(crate) fn parse(header: &'a str) -> Result<Self, SigV4Error> {
        if header.len() > MAX_AUTHORIZATION_LEN {
            return Err(incomplete("Authorization header is too long."));
        }
        let header = header.trim();
        let (algorithm, parameters) = header.split_once(' ').unwrap_or((header, ""));
        if algorithm != ALGORITHM {
            return Err(incomplete(format!(
                "Unsupported AWS 'algorithm': '{}'.",
                printable_prefix(algorithm)
            )));
        }

        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for parameter in parameters.split(',').map(str::trim) {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                // AWS ignores parameters it does not know.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(incomplete(format!(
                    "Authorization header has a duplicate '{name}' parameter."
                )));
            }
        }

        let mut missing = String::new();
        for (name, value) in [
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed_headers),
        ] {
            if value.is_none_or(str::is_empty) {
                missing.push_str(&format!(
                    "Authorization header requires '{name}' parameter. "
                ));
            }
        }
        let (Some(credential), Some(signed_headers_raw), Some(signature), true) =
            (credential, signed_headers, signature, missing.is_empty())
        else {
            return Err(incomplete(missing.trim_end()));
        };

        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, scope_date, region, service, terminator] = scope[..] else {
            return Err(incomplete(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
                printable_prefix(credential)
            )));
        };
        if access_key_id.is_empty() {
            return Err(incomplete("Credential is missing the access key id."));
        }

        let signed_headers: Vec<&str> = signed_headers_raw.split(';').collect();
        if signed_headers.len() > MAX_SIGNED_HEADERS {
            return Err(incomplete("SignedHeaders lists too many headers."));
        }
        if let Some(bad) = signed_headers.iter().find(|name| !is_lowercase_token(name)) {
            return Err(incomplete(format!(
                "SignedHeaders contains an invalid header name: '{}'.",
                printable_prefix(bad)
            )));
        }

        Ok(Self {
            access_key_id,
            scope_date,
            region,
            service,
            terminator,
            signed_headers,
            signed_headers_raw,
            signature,
        })
    }

    /// `DATE/REGION/SERVICE/TERMINATOR`, as it enters the string to sign.
    pub(crate) fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.scope_date, self.region, self.service, self.terminator
        )
    }
}

fn incomplete(message: impl Into<String>) -> SigV4Error {
    SigV4Error::IncompleteSignature(message.into())
}

/// Header names as HTTP allows them (RFC 9110 `token`), lowercased as SigV4 requires.
fn is_lowercase_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&byte)
        })
}

/// Echoes client input in messages without letting it grow them unboundedly.
pub(crate) fn printable_prefix(text: &str) -> &str {
    const MAX_ECHO: usize = 128;
    let mut end = text.len().min(MAX_ECHO);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTOCORE_STYLE: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    fn message(result: Result<Authorization<'_>, SigV4Error>) -> String {
        match result {
            Err(SigV4Error::IncompleteSignature(message)) => message,
            other => panic!("expected IncompleteSignature, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_well_formed_header() {
        let parsed = Authorization::parse(BOTOCORE_STYLE).unwrap();
        assert_eq!(parsed.access_key_id, "AKIDEXAMPLE");
        assert_eq!(parsed.scope_date, "20150830");
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.service, "service");
        assert_eq!(parsed.terminator, "aws4_request");
        assert_eq!(parsed.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(parsed.signed_headers_raw, "host;x-amz-date");
        assert_eq!(parsed.scope(), "20150830/us-east-1/service/aws4_request");
        assert!(parsed.signature.starts_with("5fa00f"));
    }

    #[test]
    fn tolerates_missing_spaces_after_commas() {
        let compact = BOTOCORE_STYLE.replace(", ", ",");
        assert_eq!(
            Authorization::parse(&compact).unwrap(),
            Authorization::parse(BOTOCORE_STYLE).unwrap()
        );
    }

    #[test]
    fn names_every_missing_parameter() {
        assert_eq!(
            message(Authorization::parse(
                "AWS4-HMAC-SHA256 Credential=a/b/c/d/e"
            )),
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."
        );
        assert_eq!(
            message(Authorization::parse("AWS4-HMAC-SHA256")),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."
        );
        assert!(
            message(Authorization::parse(
                "AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=00"
            ))
            .contains("'Credential'")
        );
    }

    #[test]
    fn rejects_other_algorithms() {
        assert_eq!(
            message(Authorization::parse("Bearer abc")),
            "Unsupported AWS 'algorithm': 'Bearer'."
        );
        assert!(message(Authorization::parse("AWS AKID:sig")).contains("'AWS'"));
    }

    #[test]
    fn rejects_malformed_credentials_and_headers() {
        let short = BOTOCORE_STYLE.replace("/service/aws4_request", "/service");
        assert!(
            message(Authorization::parse(&short)).starts_with("Credential must have exactly 5")
        );
        let upper = BOTOCORE_STYLE.replace("host;x-amz-date", "Host;x-amz-date");
        assert!(message(Authorization::parse(&upper)).contains("'Host'"));
        let empty = BOTOCORE_STYLE.replace("host;x-amz-date", "host;;x-amz-date");
        assert!(message(Authorization::parse(&empty)).contains("invalid header name"));
        let twice = format!("{BOTOCORE_STYLE}, Signature=00");
        assert!(message(Authorization::parse(&twice)).contains("duplicate 'Signature'"));
        let no_key = BOTOCORE_STYLE.replace("AKIDEXAMPLE/", "/");
        assert!(message(Authorization::parse(&no_key)).contains("access key id"));
    }

    #[test]
    fn rejects_oversized_input() {
        let huge = format!("{BOTOCORE_STYLE}{}", " ".repeat(MAX_AUTHORIZATION_LEN));
        assert!(message(Authorization::parse(&huge)).contains("too long"));
        let many = (0..=MAX_SIGNED_HEADERS)
            .map(|index| format!("h{index}"))
            .collect::<Vec<_>>()
            .join(";");
        let many = BOTOCORE_STYLE.replace("host;x-amz-date", &many);
        assert!(message(Authorization::parse(&many)).contains("too many"));
    }

    #[test]
    fn echoes_at_most_a_bounded_prefix() {
        let long = format!("{}é", "x".repeat(127));
        assert_eq!(printable_prefix(&long).len(), 127);
    }
}
