//! The SigV4 canonical request, built from the request as received.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

/// Everything but RFC 3986 unreserved characters is encoded.
const QUERY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Path encoding keeps the separators.
const PATH_ENCODE_SET: &AsciiSet = &QUERY_ENCODE_SET.remove(b'/');

/// The canonical URI for non-S3 services: dot segments and empty segments removed (as botocore and
/// aws-sigv4 do), then the already percent-encoded path is encoded again ("double encoding").
pub(crate) fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = format!("/{}", segments.join("/"));
    let ends_with_slash = ["/", "/.", "/.."].iter().any(|end| path.ends_with(end));
    if ends_with_slash && !normalized.ends_with('/') {
        normalized.push('/');
    }
    percent_encode(normalized.as_bytes(), PATH_ENCODE_SET).to_string()
}

/// The canonical query: each name and value decoded, re-encoded strictly, then sorted.
pub(crate) fn canonical_query(query: Option<&str>) -> String {
    let Some(query) = query.filter(|query| !query.is_empty()) else {
        return String::new();
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode_query_part(name), reencode_query_part(value))
        })
        .collect();
    pairs.sort();
    let encoded: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    encoded.join("&")
}

/// Decodes as `application/x-www-form-urlencoded` does (`+` is a space), as aws-sigv4 does.
fn reencode_query_part(part: &str) -> String {
    let spaced: Cow<'_, str> = if part.contains('+') {
        Cow::Owned(part.replace('+', " "))
    } else {
        Cow::Borrowed(part)
    };
    let decoded: Cow<'_, [u8]> = percent_decode(spaced.as_bytes()).into();
    percent_encode(&decoded, QUERY_ENCODE_SET).to_string()
}

/// Trims a header value and collapses inner runs of spaces and tabs into one space, as botocore
/// does (`' '.join(value.split())`).
pub(crate) fn canonical_header_value(value: &[u8]) -> Vec<u8> {
    let mut canonical = Vec::with_capacity(value.len());
    for word in value
        .split(|byte| matches!(byte, b' ' | b'\t'))
        .filter(|word| !word.is_empty())
    {
        if !canonical.is_empty() {
            canonical.push(b' ');
        }
        canonical.extend_from_slice(word);
    }
    canonical
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_path_is_unchanged() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
    }

    #[test]
    fn paths_are_normalized_then_double_encoded() {
        assert_eq!(canonical_uri("/foo/../bar/./baz"), "/bar/baz");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/a/b/.."), "/a/");
        assert_eq!(canonical_uri("/example%20space/"), "/example%2520space/");
        assert_eq!(canonical_uri("/%E1%88%B4"), "/%25E1%2588%25B4");
        assert_eq!(canonical_uri("/-._~"), "/-._~");
    }

    #[test]
    fn query_is_reencoded_and_sorted() {
        assert_eq!(canonical_query(None), "");
        assert_eq!(canonical_query(Some("")), "");
        assert_eq!(
            canonical_query(Some("Param2=value2&Param1=value1")),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(canonical_query(Some("b=2&a=2&a=1")), "a=1&a=2&b=2");
        assert_eq!(canonical_query(Some("Param1=")), "Param1=");
        assert_eq!(canonical_query(Some("Param1")), "Param1=");
        assert_eq!(canonical_query(Some("k=a+b%2Fc*")), "k=a%20b%2Fc%2A");
        assert_eq!(canonical_query(Some("%e1%88%b4=x")), "%E1%88%B4=x");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(canonical_header_value(b"  value1  "), b"value1");
        assert_eq!(canonical_header_value(b"a   b\t\tc"), b"a b c");
        assert_eq!(canonical_header_value(b""), b"");
        assert_eq!(canonical_header_value(b"   "), b"");
    }
}
