//! Colour handling as in badge-maker's `lib/color.js`: shields colour names and aliases, bare or
//! `#`-prefixed 3/6-digit hex, and the brightness rule that picks dark text on light colours.

use std::borrow::Cow;

use crate::Flavor;

/// Background of the label half.
pub(crate) const LABEL_COLOR: &str = "#555";

/// Named colours as `[name, classic (badge-maker ≤ 5), modern (badge-maker 6)]`.
const NAMED: [(&str, &str, &str); 9] = [
    ("brightgreen", "#4c1", "#4b0"),
    ("green", "#97ca00", "#67ac09"),
    ("yellow", "#dfb317", "#d8b800"),
    ("yellowgreen", "#a4a61d", "#95991a"),
    ("orange", "#fe7d37", "#ea7233"),
    ("red", "#e05d44", "#dd4343"),
    ("blue", "#007ec6", "#007ec6"),
    ("grey", "#555", "#555"),
    ("lightgrey", "#9f9f9f", "#939393"),
];

const ALIASES: [(&str, &str); 7] = [
    ("gray", "grey"),
    ("lightgray", "lightgrey"),
    ("critical", "red"),
    ("important", "orange"),
    ("success", "brightgreen"),
    ("informational", "blue"),
    ("inactive", "lightgrey"),
];

/// The hex value of a shields colour name or alias (case-sensitive, like badge-maker).
pub(crate) fn named_color(name: &str, flavor: Flavor) -> Option<&'static str> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, original)| original);
    NAMED
        .iter()
        .find(|(named, _, _)| *named == name)
        .map(|(_, classic, modern)| match flavor {
            Flavor::Classic => *classic,
            Flavor::Modern => *modern,
        })
}

/// The SVG fill for a user-supplied colour. Like badge-maker, anything unrecognised falls back
/// to `brightgreen`. Unlike badge-maker, CSS colour names and functions (`white`, `rgb(…)`) are
/// not recognised.
pub(crate) fn svg_color(input: &str, flavor: Flavor) -> Cow<'static, str> {
    if let Some(hex) = named_color(input, flavor) {
        return Cow::Borrowed(hex);
    }
    let digits = input.strip_prefix('#').unwrap_or(input);
    if matches!(digits.len(), 3 | 6) && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Cow::Owned(format!("#{}", digits.to_ascii_lowercase()));
    }
    match flavor {
        Flavor::Classic => Cow::Borrowed("#4c1"),
        Flavor::Modern => Cow::Borrowed("#4b0"),
    }
}

/// Text and shadow colours for text on `background` (an output of [`svg_color`]).
///
/// badge-maker computes `(299R + 587G + 114B) / 255000`, rounds it with `toFixed(2)` and uses
/// dark text above 0.69. On integers that is `299R + 587G + 114B > 177225`: at exactly 177225 the
/// quotient is the double nearest 0.695, which lies just below 0.695 and so rounds to "0.69".
pub(crate) fn text_colors(background: &str) -> (&'static str, &'static str) {
    const LIGHT: (&str, &str) = ("#fff", "#010101");
    const DARK: (&str, &str) = ("#333", "#ccc");
    match rgb(background) {
        Some([r, g, b]) if 299 * r + 587 * g + 114 * b > 177_225 => DARK,
        _ => LIGHT,
    }
}

fn rgb(hex_color: &str) -> Option<[u32; 3]> {
    let digits = hex_color.strip_prefix('#')?;
    let nibble = |i: usize| {
        digits
            .as_bytes()
            .get(i)
            .and_then(|&b| char::from(b).to_digit(16))
    };
    match digits.len() {
        3 => Some([nibble(0)? * 17, nibble(1)? * 17, nibble(2)? * 17]),
        6 => Some([
            nibble(0)? * 16 + nibble(1)?,
            nibble(2)? * 16 + nibble(3)?,
            nibble(4)? * 16 + nibble(5)?,
        ]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_hex_resolve_like_badge_maker() {
        assert_eq!(svg_color("brightgreen", Flavor::Classic), "#4c1");
        assert_eq!(svg_color("brightgreen", Flavor::Modern), "#4b0");
        assert_eq!(svg_color("success", Flavor::Classic), "#4c1");
        assert_eq!(svg_color("lightgray", Flavor::Classic), "#9f9f9f");
        assert_eq!(svg_color("critical", Flavor::Modern), "#dd4343");
        assert_eq!(svg_color("ABC", Flavor::Classic), "#abc");
        assert_eq!(svg_color("#E05D44", Flavor::Classic), "#e05d44");
    }

    #[test]
    fn unrecognised_colours_fall_back_to_brightgreen() {
        for input in [
            "",
            "Red",
            "#12",
            "12345",
            "#ggg",
            "red\"/><script>",
            "#abcd",
        ] {
            assert_eq!(svg_color(input, Flavor::Classic), "#4c1", "{input}");
        }
    }

    #[test]
    fn light_backgrounds_get_dark_text() {
        assert_eq!(text_colors("#fff"), ("#333", "#ccc"));
        assert_eq!(text_colors("#eeeeee"), ("#333", "#ccc"));
        for dark in ["#555", "#4c1", "#dfb317", "#9f9f9f", "#e05d44", "#d8b800"] {
            assert_eq!(text_colors(dark), ("#fff", "#010101"), "{dark}");
        }
    }

    #[test]
    fn brightness_threshold_follows_to_fixed_rounding() {
        // 299·R + 587·G + 114·B for grey levels is 1000·v: 177 → 0.694 → "0.69", 178 → "0.70".
        assert_eq!(text_colors("#b1b1b1").0, "#fff");
        assert_eq!(text_colors("#b2b2b2").0, "#333");
    }
}
