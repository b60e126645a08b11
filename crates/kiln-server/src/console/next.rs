//! Where to go after signing in (`next`): a path on this console, never another site.
//!
//! Browsers are lenient with a `Location`: they drop tabs and newlines anywhere in it, read `\`
//! as `/`, and take `//host` as another host. So `next` is kept only when it is plainly a path:
//! visible ASCII, one leading `/`, no `\`, and the same holds once percent-escapes are decoded
//! (a page or proxy may decode them), with no control character either. Anything else is `/`.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// Longest `next` kept.
const MAX_NEXT_LEN: usize = 2048;
/// Rounds of percent-decoding checked (`%252F` is `%2F` once decoded, `/` twice).
const DECODE_ROUNDS: usize = 3;

/// `next` when it is a same-origin path, else `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if is_local_path(path) => path.to_string(),
        _ => "/".to_string(),
    }
}

fn is_local_path(next: &str) -> bool {
    if next.len() > MAX_NEXT_LEN || !next.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let mut text = Cow::Borrowed(next);
    for _ in 0..DECODE_ROUNDS {
        if !text.starts_with('/')
            || text.starts_with("//")
            || text.contains('\\')
            || text.chars().any(char::is_control)
        {
            return false;
        }
        let decoded = percent_decode_str(&text).decode_utf8_lossy().into_owned();
        if decoded == *text {
            return true;
        }
        text = Cow::Owned(decoded);
    }
    // Still changing after several rounds: not a path anyone links to.
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths_are_kept() {
        for path in [
            "/",
            "/projects/a?x=1",
            "/projects/app/builds/0b7f?tab=log",
            "/projects/my-app/edit",
            "/create-project",
            "/projects/a%20b",
            "/a/./b",
        ] {
            assert_eq!(safe_next(Some(path)), path, "{path:?}");
        }
    }

    #[test]
    fn anything_that_could_leave_the_site_is_the_home_page() {
        let long = format!("/{}", "a".repeat(MAX_NEXT_LEN));
        let hostile = [
            "",
            "//evil.example",
            "///evil.example",
            "//evil.example/%2F..",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\n/evil.example/",
            "/ /evil.example/",
            "\t//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "/%09/evil.example/",
            "/%0a/evil.example/",
            "/%0D%0A/evil.example/",
            "/%00/evil.example",
            "/%7f/evil.example",
            "/%C2%85/evil.example",
            "/%5Cevil.example",
            "/%5c%5cevil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%252F/evil.example",
            "/%25252F/evil.example",
            "/%2525252F/evil.example",
            "/\u{0}x",
            "/\u{7f}x",
            "/\u{85}x",
            "/\u{2028}evil",
            "/\u{ff0f}\u{ff0f}evil.example",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            ".//evil.example",
            " /x",
            &long,
        ];
        for next in hostile {
            assert_eq!(safe_next(Some(next)), "/", "{next:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
