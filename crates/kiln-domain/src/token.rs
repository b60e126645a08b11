//! Random tokens (badges, webhooks, console sessions and forms): opaque, URL-safe, unguessable,
//! and revealing nothing about what they name.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// Random bytes per token: 192 bits, more than the 128 docs/security.md ("Random tokens") asks for.
const TOKEN_BYTES: usize = 24;

/// Longest token the badge endpoint will look up.
pub const MAX_TOKEN_LEN: usize = 64;

pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// True when `token` could be one Kiln issued; anything else is not worth a lookup.
pub fn is_well_formed(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `<public-url>/badges?uuid=<token>[&branch=<branch>]`.
pub fn badge_url(public_url: &str, token: &str, branch: Option<&str>) -> String {
    let base = public_url.trim_end_matches('/');
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("uuid", token);
    if let Some(branch) = branch {
        query.append_pair("branch", branch);
    }
    format!("{base}/badges?{}", query.finish())
}

/// The Markdown that embeds a badge in a README; with `link`, clicking the badge goes there
/// (a README shows the image as a plain image, so only Markdown can make it a link).
pub fn badge_markdown(url: &str, link: Option<&str>) -> String {
    match link {
        Some(link) => format!("[![Build Status]({url})]({link})"),
        None => format!("![Build Status]({url})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_url_safe_and_distinct() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(is_well_formed(&a));
        assert!(!is_well_formed("a b"));
        assert!(!is_well_formed(""));
    }

    #[test]
    fn url_encodes_branch() {
        assert_eq!(
            badge_url("http://h:1/", "tok", Some("feature/x y")),
            "http://h:1/badges?uuid=tok&branch=feature%2Fx+y"
        );
        assert_eq!(
            badge_url("http://h:1", "tok", None),
            "http://h:1/badges?uuid=tok"
        );
    }
}
