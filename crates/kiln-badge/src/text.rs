//! Text preparation and XML escaping, matching badge-maker's JavaScript string semantics.

use std::fmt;

/// JavaScript's `String.prototype.trim`: Unicode `Zs`, the ASCII whitespace controls, line and
/// paragraph separators and the BOM. Unlike `str::trim` it keeps U+0085 and drops U+FEFF.
pub(crate) fn js_trim(text: &str) -> &str {
    text.trim_matches(|c: char| {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202f}'
                    | '\u{205f}'
                    | '\u{3000}'
                    | '\u{feff}'
        )
    })
}

/// JavaScript's `s.charAt(0).toUpperCase() + s.slice(1)`. `charAt` works on UTF-16 units, so a
/// leading astral character (a lone surrogate there) is left as it is.
pub(crate) fn capitalize_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if u32::from(first) <= 0xffff => first.to_uppercase().chain(chars).collect(),
        _ => text.to_owned(),
    }
}

/// Number of UTF-16 code units, JavaScript's `String.prototype.length`.
pub(crate) fn js_length(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Displays text escaped for XML character data and attribute values (`& < > " '`, as
/// badge-maker does). Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF and
/// CR, and U+FFFE/U+FFFF) are dropped; badge-maker would emit them and break the document. They
/// measure 0 px wide (or are noncharacters), so the layout does not change.
pub(crate) struct Xml<'a>(pub(crate) &'a str);

impl fmt::Display for Xml<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        // Copy runs of plain text in one call; stop at each character needing care.
        while let Some(at) = rest.find(|c: char| {
            matches!(c, '&' | '<' | '>' | '"' | '\'' | '\u{fffe}' | '\u{ffff}')
                || (c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
        }) {
            let (plain, tail) = rest.split_at(at);
            f.write_str(plain)?;
            let mut chars = tail.chars();
            let replacement = match chars.next() {
                Some('&') => "&amp;",
                Some('<') => "&lt;",
                Some('>') => "&gt;",
                Some('"') => "&quot;",
                Some('\'') => "&apos;",
                _ => "",
            };
            f.write_str(replacement)?;
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        Xml(text).to_string()
    }

    #[test]
    fn escapes_the_five_xml_specials() {
        assert_eq!(
            escaped(r#"a&b<c>"d"'e'"#),
            "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;"
        );
        assert_eq!(escaped("&amp;"), "&amp;amp;");
        assert_eq!(escaped("日本語 Ünïcødé"), "日本語 Ünïcødé");
    }

    #[test]
    fn drops_characters_xml_cannot_carry() {
        assert_eq!(escaped("a\u{0}b\u{1b}c\u{fffe}d"), "abcd");
        assert_eq!(escaped("a\tb\nc\rd\u{7f}"), "a\tb\nc\rd\u{7f}");
    }

    #[test]
    fn trims_like_javascript() {
        assert_eq!(js_trim("\u{feff} \t build \u{3000}\n"), "build");
        assert_eq!(js_trim("\u{85}x\u{85}"), "\u{85}x\u{85}");
    }

    #[test]
    fn capitalizes_only_a_leading_bmp_character() {
        assert_eq!(capitalize_first("build"), "Build");
        assert_eq!(capitalize_first("ünïcødé"), "Ünïcødé");
        assert_eq!(capitalize_first("ßx"), "SSx");
        assert_eq!(capitalize_first("𐐨x"), "𐐨x");
        assert_eq!(capitalize_first(""), "");
    }

    #[test]
    fn length_counts_utf16_units() {
        assert_eq!(js_length("abc"), 3);
        assert_eq!(js_length("日本語"), 3);
        assert_eq!(js_length("🦀"), 2);
    }
}
