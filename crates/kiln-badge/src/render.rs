//! The SVG templates of badge-maker 4.1.0 (`Flavor::Classic`) and 6.0.0 (`Flavor::Modern`),
//! written attribute by attribute in badge-maker's order so the bytes match.

use std::fmt::{self, Formatter};

use crate::color::{LABEL_COLOR, svg_color, text_colors};
use crate::text::{Xml, capitalize_first, js_length, js_trim};
use crate::width::{Font, preferred_width, text_width};
use crate::{Badge, Flavor, Style};

const FONT_FAMILY: &str = "Verdana,Geneva,DejaVu Sans,sans-serif";
const SOCIAL_FONT_FAMILY: &str = "Helvetica Neue,Helvetica,Arial,sans-serif";
const LINK_HIT_AREA_FILL: &str = "rgba(0,0,0,0)";

pub(crate) fn render(badge: &Badge<'_>, f: &mut Formatter<'_>) -> fmt::Result {
    let label = js_trim(badge.label);
    let message = js_trim(badge.message);
    let color = svg_color(badge.color, badge.flavor);
    let links = Links::new(badge.left_link, badge.right_link);
    let flavor = badge.flavor;
    match badge.style {
        Style::Flat => {
            FlatFamily::new(FlatKind::Flat, label, message, &color).render(f, flavor, links)
        }
        Style::FlatSquare => {
            FlatFamily::new(FlatKind::FlatSquare, label, message, &color).render(f, flavor, links)
        }
        Style::Plastic => {
            FlatFamily::new(FlatKind::Plastic, label, message, &color).render(f, flavor, links)
        }
        Style::ForTheBadge => for_the_badge(f, flavor, links, label, message, &color),
        Style::Social => social(f, flavor, links, label, message),
    }
}

/// badge-maker's link semantics: an empty link counts as absent; with only a left link the
/// whole badge is one link; with both, each half is its own link and the badge loses its
/// `role`/`aria-label`/`<title>` because each half is announced on its own.
#[derive(Clone, Copy)]
struct Links<'a> {
    left: Option<&'a str>,
    right: Option<&'a str>,
}

impl<'a> Links<'a> {
    fn new(left: Option<&'a str>, right: Option<&'a str>) -> Self {
        Self {
            left: left.filter(|link| !link.is_empty()),
            right: right.filter(|link| !link.is_empty()),
        }
    }

    fn both(self) -> bool {
        self.left.is_some() && self.right.is_some()
    }

    /// The left link when it wraps the whole badge body.
    fn body(self) -> Option<&'a str> {
        self.left.filter(|_| self.right.is_none())
    }

    /// The left link when it wraps only the left half.
    fn left_half(self) -> Option<&'a str> {
        self.left.filter(|_| self.right.is_some())
    }
}

/// `label: message`, or just the message without a label.
struct AccessibleText<'a> {
    label: &'a str,
    message: &'a str,
}

impl fmt::Display for AccessibleText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.label.is_empty() {
            write!(f, "{}: ", Xml(self.label))?;
        }
        write!(f, "{}", Xml(self.message))
    }
}

fn link_attr(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Classic => "xlink:href",
        Flavor::Modern => "href",
    }
}

/// `<svg …>`, the accessible title and, for a left-only link, the opening `<a>`.
fn open_svg(
    f: &mut Formatter<'_>,
    flavor: Flavor,
    links: Links<'_>,
    width: f64,
    height: f64,
    accessible: &AccessibleText<'_>,
) -> fmt::Result {
    f.write_str(r#"<svg xmlns="http://www.w3.org/2000/svg""#)?;
    if flavor == Flavor::Classic {
        f.write_str(r#" xmlns:xlink="http://www.w3.org/1999/xlink""#)?;
    }
    write!(f, r#" width="{}" height="{}""#, Num(width), Num(height))?;
    if links.both() {
        f.write_str(">")?;
    } else {
        write!(
            f,
            r#" role="img" aria-label="{accessible}"><title>{accessible}</title>"#
        )?;
    }
    if let Some(link) = links.body() {
        write!(
            f,
            r#"<a target="_blank" {}="{}">"#,
            link_attr(flavor),
            Xml(link)
        )?;
    }
    Ok(())
}

fn close_svg(f: &mut Formatter<'_>, links: Links<'_>) -> fmt::Result {
    if links.body().is_some() {
        f.write_str("</a>")?;
    }
    f.write_str("</svg>")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlatKind {
    Flat,
    FlatSquare,
    Plastic,
}

/// Layout shared by flat, flat-square and plastic (badge-maker's `Badge` class, no logo).
struct FlatFamily<'a> {
    kind: FlatKind,
    label: &'a str,
    message: &'a str,
    color: &'a str,
    label_color: &'a str,
    label_width: f64,
    message_width: f64,
    left_width: f64,
    right_width: f64,
    message_margin: f64,
}

impl<'a> FlatFamily<'a> {
    const HORIZONTAL_PADDING: f64 = 5.0;
    const LABEL_MARGIN: f64 = 1.0;

    fn new(kind: FlatKind, label: &'a str, message: &'a str, color: &'a str) -> Self {
        let has_label = !label.is_empty();
        let label_width = if has_label {
            preferred_width(label, Font::Verdana11)
        } else {
            0.0
        };
        let left_width = if has_label {
            label_width + 2.0 * Self::HORIZONTAL_PADDING
        } else {
            0.0
        };
        let message_width = preferred_width(message, Font::Verdana11);
        let mut message_margin = left_width - if message.is_empty() { 0.0 } else { 1.0 };
        if !has_label {
            message_margin += 1.0;
        }
        Self {
            kind,
            label,
            message,
            color,
            // Without a label the (zero-width) label rect takes the message colour.
            label_color: if has_label { LABEL_COLOR } else { color },
            label_width,
            message_width,
            left_width,
            right_width: message_width + 2.0 * Self::HORIZONTAL_PADDING,
            message_margin,
        }
    }

    fn height(&self) -> f64 {
        if self.kind == FlatKind::Plastic {
            18.0
        } else {
            20.0
        }
    }

    /// Text baseline in the 10× coordinate space; the shadow sits 10 below.
    fn text_y(&self) -> f64 {
        if self.kind == FlatKind::Plastic {
            130.0
        } else {
            140.0
        }
    }

    fn render(&self, f: &mut Formatter<'_>, flavor: Flavor, links: Links<'_>) -> fmt::Result {
        let accessible = AccessibleText {
            label: self.label,
            message: self.message,
        };
        open_svg(
            f,
            flavor,
            links,
            self.left_width + self.right_width,
            self.height(),
            &accessible,
        )?;
        let width = Num(self.left_width + self.right_width);
        let height = Num(self.height());
        let (left_width, right_width) = (Num(self.left_width), Num(self.right_width));
        let rects = |f: &mut Formatter<'_>| {
            write!(
                f,
                r#"<rect width="{}" height="{height}" fill="{}"/><rect x="{}" width="{}" height="{height}" fill="{}"/>"#,
                left_width,
                Xml(self.label_color),
                left_width,
                right_width,
                Xml(self.color),
            )
        };
        if self.kind == FlatKind::FlatSquare {
            f.write_str(r#"<g shape-rendering="crispEdges">"#)?;
            rects(f)?;
            f.write_str("</g>")?;
        } else {
            if flavor == Flavor::Modern {
                f.write_str(r#"<filter id="blur"><feGaussianBlur stdDeviation="16"/></filter>"#)?;
            }
            f.write_str(r#"<linearGradient id="s" x2="0" y2="100%">"#)?;
            f.write_str(if self.kind == FlatKind::Plastic {
                r##"<stop offset="0" stop-color="#fff" stop-opacity=".7"/><stop offset=".1" stop-color="#aaa" stop-opacity=".1"/><stop offset=".9" stop-color="#000" stop-opacity=".3"/><stop offset="1" stop-color="#000" stop-opacity=".5"/>"##
            } else {
                r##"<stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/>"##
            })?;
            let radius = if self.kind == FlatKind::Plastic { 4 } else { 3 };
            write!(
                f,
                r#"</linearGradient><clipPath id="r"><rect width="{width}" height="{height}" rx="{radius}""#
            )?;
            if flavor == Flavor::Classic {
                f.write_str(r##" fill="#fff""##)?;
            }
            f.write_str(r#"/></clipPath><g clip-path="url(#r)">"#)?;
            rects(f)?;
            write!(
                f,
                r#"<rect width="{width}" height="{height}" fill="url(#s)"/></g>"#
            )?;
        }
        write!(
            f,
            r##"<g fill="#fff" text-anchor="middle" font-family="{FONT_FAMILY}" text-rendering="geometricPrecision" font-size="110">"##
        )?;
        let label_text = TextRun {
            margin: Self::LABEL_MARGIN,
            content: self.label,
            background: self.label_color,
            width: self.label_width,
            link: links.left_half(),
            link_width: self.left_width,
        };
        self.text(f, flavor, &label_text)?;
        let message_text = TextRun {
            margin: self.message_margin,
            content: self.message,
            background: self.color,
            width: self.message_width,
            link: links.right,
            link_width: self.right_width,
        };
        self.text(f, flavor, &message_text)?;
        f.write_str("</g>")?;
        close_svg(f, links)
    }

    fn text(&self, f: &mut Formatter<'_>, flavor: Flavor, run: &TextRun<'_>) -> fmt::Result {
        if run.content.is_empty() {
            return Ok(());
        }
        let (text_color, shadow_color) = text_colors(run.background);
        let x = Num(10.0 * (run.margin + 0.5 * run.width + Self::HORIZONTAL_PADDING));
        let y = Num(self.text_y());
        let shadow_y = Num(self.text_y() + 10.0);
        let length = Num(10.0 * run.width);
        let content = Xml(run.content);
        if let Some(link) = run.link {
            let rect_x = Num(if run.margin > 1.0 {
                run.margin + 1.0
            } else {
                0.0
            });
            write!(
                f,
                r#"<a target="_blank" {}="{}"><rect width="{}" x="{rect_x}" height="{}" fill="{LINK_HIT_AREA_FILL}"/>"#,
                link_attr(flavor),
                Xml(link),
                Num(run.link_width),
                Num(self.height()),
            )?;
        }
        match (flavor, self.kind) {
            (Flavor::Classic, kind) => {
                if kind != FlatKind::FlatSquare {
                    write!(
                        f,
                        r#"<text aria-hidden="true" x="{x}" y="{shadow_y}" fill="{shadow_color}" fill-opacity=".3" transform="scale(.1)" textLength="{length}">{content}</text>"#
                    )?;
                }
                write!(
                    f,
                    r#"<text x="{x}" y="{y}" transform="scale(.1)" fill="{text_color}" textLength="{length}">{content}</text>"#
                )?;
            }
            (Flavor::Modern, FlatKind::FlatSquare) => {
                write!(
                    f,
                    r#"<text x="{x}" y="{y}" textLength="{length}" transform="scale(.1)""#
                )?;
                modern_fill(f, text_color)?;
                write!(f, ">{content}</text>")?;
            }
            (Flavor::Modern, _) => {
                write!(
                    f,
                    r#"<g transform="scale(.1)"><g aria-hidden="true" fill="{shadow_color}"><text x="{x}" y="{shadow_y}" fill-opacity=".8" filter="url(#blur)" textLength="{length}">{content}</text><text x="{x}" y="{shadow_y}" fill-opacity=".3" textLength="{length}">{content}</text></g><text x="{x}" y="{y}" textLength="{length}""#
                )?;
                modern_fill(f, text_color)?;
                write!(f, ">{content}</text></g>")?;
            }
        }
        if run.link.is_some() {
            f.write_str("</a>")?;
        }
        Ok(())
    }
}

/// badge-maker 6 leaves out `fill` where the text inherits the group's `#fff`.
fn modern_fill(f: &mut Formatter<'_>, text_color: &str) -> fmt::Result {
    if text_color == "#fff" {
        Ok(())
    } else {
        write!(f, r#" fill="{text_color}""#)
    }
}

/// Writes a number as JavaScript's `String(number)` does for badge geometry: integers through
/// the integer formatter (far cheaper than float formatting), anything else in the shortest
/// round-trip form both languages share.
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // Below 2^53 every integral f64 is exact in i64; -0 becomes "0", as in JavaScript.
        if self.0.fract() == 0.0 && self.0.abs() < 9_007_199_254_740_992.0 {
            write!(f, "{}", self.0 as i64)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

struct TextRun<'a> {
    /// Left edge of the text's half, before padding.
    margin: f64,
    content: &'a str,
    background: &'a str,
    width: f64,
    link: Option<&'a str>,
    /// Width of the clickable rect when linked.
    link_width: f64,
}

/// badge-maker's `forTheBadge` (no logo): upper case, 10px Verdana plus 1.25 px letter spacing
/// per UTF-16 unit, no odd rounding, bold message.
fn for_the_badge(
    f: &mut Formatter<'_>,
    flavor: Flavor,
    links: Links<'_>,
    label: &str,
    message: &str,
    color: &str,
) -> fmt::Result {
    const HEIGHT: f64 = 28.0;
    const TEXT_MARGIN: f64 = 12.0;
    const LETTER_SPACING: f64 = 1.25;

    let label = label.to_uppercase();
    let message = message.to_uppercase();
    let spaced_width = |text: &str, font| {
        if text.is_empty() {
            0.0
        } else {
            text_width(text, font).trunc() + LETTER_SPACING * js_length(text) as f64
        }
    };
    let label_width = spaced_width(&label, Font::Verdana10);
    let message_width = spaced_width(&message, Font::Verdana10Bold);
    let has_label = !label.is_empty();
    let label_rect_width = if has_label {
        2.0 * TEXT_MARGIN + label_width
    } else {
        0.0
    };
    let message_text_min_x = if has_label {
        label_rect_width + TEXT_MARGIN
    } else {
        TEXT_MARGIN
    };
    let message_rect_width = 2.0 * TEXT_MARGIN + message_width;

    let accessible = AccessibleText {
        label: &label,
        message: &message,
    };
    open_svg(
        f,
        flavor,
        links,
        label_rect_width + message_rect_width,
        HEIGHT,
        &accessible,
    )?;
    let height = Num(HEIGHT);
    let label_rect = Num(label_rect_width);
    let message_rect = Num(message_rect_width);
    f.write_str(r#"<g shape-rendering="crispEdges">"#)?;
    if has_label {
        write!(
            f,
            r#"<rect width="{label_rect}" height="{height}" fill="{LABEL_COLOR}"/><rect x="{label_rect}" width="{message_rect}" height="{height}" fill="{}"/>"#,
            Xml(color)
        )?;
    } else {
        write!(
            f,
            r#"<rect width="{message_rect}" height="{height}" fill="{}"/>"#,
            Xml(color)
        )?;
    }
    write!(
        f,
        r##"</g><g fill="#fff" text-anchor="middle" font-family="{FONT_FAMILY}" text-rendering="geometricPrecision" font-size="100">"##
    )?;
    let text = |f: &mut Formatter<'_>,
                content: &str,
                mid_x: f64,
                width: f64,
                background: &str,
                bold: bool| {
        let (text_color, _) = text_colors(background);
        write!(
            f,
            r#"<text transform="scale(.1)" x="{}" y="175" textLength="{}""#,
            Num(10.0 * mid_x),
            Num(10.0 * width)
        )?;
        // badge-maker 6 writes `fill` after `font-weight`, and only when it is not inherited.
        if flavor == Flavor::Classic {
            write!(f, r#" fill="{text_color}""#)?;
        }
        if bold {
            f.write_str(r#" font-weight="bold""#)?;
        }
        if flavor == Flavor::Modern {
            modern_fill(f, text_color)?;
        }
        write!(f, ">{}</text>", Xml(content))
    };
    if has_label {
        if let Some(link) = links.left_half() {
            write!(
                f,
                r#"<a target="_blank" {}="{}"><rect width="{label_rect}" height="{height}" fill="{LINK_HIT_AREA_FILL}"/>"#,
                link_attr(flavor),
                Xml(link)
            )?;
        }
        text(
            f,
            &label,
            TEXT_MARGIN + 0.5 * label_width,
            label_width,
            LABEL_COLOR,
            false,
        )?;
        if links.left_half().is_some() {
            f.write_str("</a>")?;
        }
    }
    if let Some(link) = links.right {
        write!(
            f,
            r#"<a target="_blank" {}="{}"><rect width="{message_rect}" height="{height}" x="{label_rect}" fill="{LINK_HIT_AREA_FILL}"/>"#,
            link_attr(flavor),
            Xml(link)
        )?;
    }
    text(
        f,
        &message,
        message_text_min_x + 0.5 * message_width,
        message_width,
        color,
        true,
    )?;
    if links.right.is_some() {
        f.write_str("</a>")?;
    }
    f.write_str("</g>")?;
    close_svg(f, links)
}

/// badge-maker's `social` (no logo): GitHub-button look, bold 11px Helvetica, capitalised
/// label, message in a speech bubble.
fn social(
    f: &mut Formatter<'_>,
    flavor: Flavor,
    links: Links<'_>,
    label: &str,
    message: &str,
) -> fmt::Result {
    const EXTERNAL_HEIGHT: f64 = 20.0;
    const INTERNAL_HEIGHT: f64 = 19.0;
    const LABEL_PADDING: f64 = 5.0;
    const MESSAGE_PADDING: f64 = 4.0;
    const GUTTER: f64 = 6.0;

    let label = capitalize_first(label);
    let has_message = !message.is_empty();
    let label_text_width = preferred_width(&label, Font::Helvetica11Bold);
    let message_text_width = preferred_width(message, Font::Helvetica11Bold);
    let label_rect_width = label_text_width + 2.0 * LABEL_PADDING;
    let message_rect_width = message_text_width + 2.0 * MESSAGE_PADDING;
    // badge-maker 4 writes these as numbers (`0.5`), 6 as strings (`.5`).
    let half = match flavor {
        Flavor::Classic => "0.5",
        Flavor::Modern => ".5",
    };

    let accessible = AccessibleText {
        label: &label,
        message,
    };
    let right_width = if has_message {
        GUTTER + message_rect_width
    } else {
        0.0
    };
    open_svg(
        f,
        flavor,
        links,
        label_rect_width + 1.0 + right_width,
        EXTERNAL_HEIGHT,
        &accessible,
    )?;
    let label_rect = Num(label_rect_width);
    let message_rect = Num(message_rect_width);
    let internal_height = Num(INTERNAL_HEIGHT);
    f.write_str(concat!(
        "<style>a:hover #llink{fill:url(#b);stroke:#ccc}a:hover #rlink{fill:#4183c4}</style>",
        r##"<linearGradient id="a" x2="0" y2="100%"><stop offset="0" stop-color="#fcfcfc" stop-opacity="0"/><stop offset="1" stop-opacity=".1"/></linearGradient>"##,
        r##"<linearGradient id="b" x2="0" y2="100%"><stop offset="0" stop-color="#ccc" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>"##,
    ))?;
    write!(
        f,
        r##"<g stroke="#d5d5d5"><rect stroke="none" fill="#fcfcfc" x="{half}" y="{half}" width="{label_rect}" height="{internal_height}" rx="2"/>"##
    )?;
    if has_message {
        let notch_x = Num(label_rect_width + GUTTER);
        let bubble_x = Num(label_rect_width + GUTTER + 0.5);
        write!(
            f,
            r##"<rect x="{bubble_x}" y="{half}" width="{message_rect}" height="{internal_height}" rx="2" fill="#fafafa"/><rect x="{notch_x}" y="7.5" width="{half}" height="5" stroke="#fafafa"/><path d="M{bubble_x} 6.5 l-3 3v1 l3 3""##
        )?;
        if flavor == Flavor::Classic {
            // Upstream's missing `#`, kept for byte compatibility.
            f.write_str(r#" stroke="d5d5d5""#)?;
        }
        f.write_str(r##" fill="#fafafa"/>"##)?;
    }
    write!(
        f,
        r##"</g><g aria-hidden="{}" fill="#333" text-anchor="middle" font-family="{SOCIAL_FONT_FAMILY}" text-rendering="geometricPrecision" font-weight="700" font-size="110px" line-height="14px">"##,
        !links.both()
    )?;

    let label_x = Num(10.0 * (label_text_width / 2.0 + LABEL_PADDING));
    let label_length = Num(10.0 * label_text_width);
    let label_content = Xml(&label);
    let label_rect = format_args!(
        r##"<rect id="llink" stroke="#d5d5d5" fill="url(#a)" x=".5" y=".5" width="{label_rect}" height="{internal_height}" rx="2"/>"##
    );
    let label_texts = format_args!(
        r##"<text aria-hidden="true" x="{label_x}" y="150" fill="#fff" transform="scale(.1)" textLength="{label_length}">{label_content}</text><text x="{label_x}" y="140" transform="scale(.1)" textLength="{label_length}">{label_content}</text>"##
    );
    if let Some(link) = links.left_half() {
        write!(
            f,
            r#"<a target="_blank" {}="{}">{label_texts}{label_rect}</a>"#,
            link_attr(flavor),
            Xml(link)
        )?;
    } else {
        write!(f, "{label_rect}{label_texts}")?;
    }

    if has_message {
        let message_x = Num(10.0 * (label_rect_width + GUTTER + message_rect_width / 2.0));
        let message_length = Num(10.0 * message_text_width);
        let message_content = Xml(message);
        if let Some(link) = links.right {
            write!(
                f,
                r#"<a target="_blank" {}="{}"><rect width="{}" x="{}" height="{}" fill="{LINK_HIT_AREA_FILL}"/>"#,
                link_attr(flavor),
                Xml(link),
                Num(message_rect_width + 1.0),
                Num(label_rect_width + GUTTER),
                Num(INTERNAL_HEIGHT + 1.0),
            )?;
        }
        write!(
            f,
            r##"<text aria-hidden="true" x="{message_x}" y="150" fill="#fff" transform="scale(.1)" textLength="{message_length}">{message_content}</text><text id="rlink" x="{message_x}" y="140" transform="scale(.1)" textLength="{message_length}">{message_content}</text>"##
        )?;
        if links.right.is_some() {
            f.write_str("</a>")?;
        }
    }
    f.write_str("</g>")?;
    close_svg(f, links)
}

#[cfg(test)]
mod tests {
    use crate::{Badge, Flavor, Style, render_svg};

    #[test]
    fn display_writes_the_same_document_as_render_svg() {
        let badge = Badge {
            style: Style::Social,
            ..Badge::new("build", "passing", "brightgreen")
        };
        assert_eq!(badge.to_string(), render_svg(&badge));
    }

    #[test]
    fn light_backgrounds_get_dark_text_and_light_shadow() {
        let svg = render_svg(&Badge::new("build", "passing", "fff"));
        assert!(svg.contains(r##"<rect x="37" width="51" height="20" fill="#fff"/>"##));
        // The label stays white on grey; the message turns dark.
        assert!(svg.contains(
            r##"fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="270">build"##
        ));
        assert!(svg.contains(
            r##"fill="#ccc" fill-opacity=".3" transform="scale(.1)" textLength="410">passing"##
        ));
        assert!(svg.contains(r##"transform="scale(.1)" fill="#333" textLength="410">passing"##));
    }

    #[test]
    fn two_links_split_the_badge_in_every_style() {
        for style in Style::ALL {
            for flavor in [Flavor::Classic, Flavor::Modern] {
                let svg = render_svg(&Badge {
                    style,
                    flavor,
                    left_link: Some("https://ci.example/p"),
                    right_link: Some("https://ci.example/p/b/1"),
                    ..Badge::new("build", "passing", "brightgreen")
                });
                let context = format!("{style} {flavor:?}: {svg}");
                assert_eq!(
                    svg.matches(r#"<a target="_blank" "#).count(),
                    2,
                    "{context}"
                );
                assert!(!svg.contains("role=\"img\""), "{context}");
                assert!(!svg.contains("<title>"), "{context}");
                assert!(svg.ends_with("</g></svg>"), "{context}");
            }
        }
    }

    #[test]
    fn a_single_left_link_wraps_the_whole_body() {
        for style in Style::ALL {
            let svg = render_svg(&Badge {
                style,
                left_link: Some("https://ci.example/p"),
                ..Badge::new("build", "passing", "brightgreen")
            });
            assert!(
                svg.contains(r#"</title><a target="_blank" xlink:href="https://ci.example/p">"#),
                "{style}: {svg}"
            );
            assert!(svg.ends_with("</a></svg>"), "{style}: {svg}");
        }
    }
}
