//! Every style stays well-formed XML for hostile text, and escaping round-trips: an XML parser
//! reads back exactly the text that went in.

use kiln_badge::{Badge, Flavor, Style, render_svg};

const NASTY: [&str; 8] = [
    r#"<script>alert("x")</script>"#,
    "a&b<c>'\"",
    "&amp; &#x41; ]]>",
    "ctrl\u{0}\u{1b}\u{7f}chars",
    "日本語 🦀 Ünïcødé",
    "  padded \u{3000}",
    "feature/foo-bar",
    "",
];

#[test]
fn hostile_text_renders_well_formed_and_round_trips() {
    for style in Style::ALL {
        for flavor in [Flavor::Classic, Flavor::Modern] {
            for label in NASTY {
                for message in NASTY {
                    let svg = render_svg(&Badge {
                        style,
                        flavor,
                        left_link: Some("https://ci.example/?a=1&b=\"2\""),
                        ..Badge::new(label, message, "red\"/>")
                    });
                    let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| {
                        panic!("{style} {flavor:?} {label:?} {message:?}: {e}\n{svg}")
                    });
                    let root = doc.root_element();
                    assert_eq!(root.tag_name().name(), "svg");
                    let title = root
                        .children()
                        .find(|n| n.has_tag_name("title"))
                        .and_then(|n| n.text())
                        .unwrap_or_default();
                    let aria = root.attribute("aria-label").unwrap_or_default();
                    assert_eq!(title, aria);
                    // XML 1.0 cannot carry the C0 controls; the renderer drops them.
                    let printable = |s: &str| -> String {
                        s.chars()
                            .filter(|c| *c >= ' ' || matches!(c, '\t' | '\n' | '\r'))
                            .collect()
                    };
                    let message = printable(message.trim());
                    assert!(
                        title.ends_with(&message) || style == Style::ForTheBadge,
                        "{title:?}"
                    );
                    let link = doc
                        .descendants()
                        .find(|n| n.has_tag_name("a"))
                        .and_then(|a| a.attributes().find(|attr| attr.name() == "href"))
                        .map(|attr| attr.value().to_owned());
                    assert_eq!(link.as_deref(), Some("https://ci.example/?a=1&b=\"2\""));
                }
            }
        }
    }
}
