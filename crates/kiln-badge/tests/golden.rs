//! Byte-for-byte comparison with badge-maker's output (`tests/data/badge-maker-golden.json`:
//! 5 styles × 8 labels × 4 statuses, plus linked cases, from badge-maker 4.1.0 and 6.0.0).

use kiln_badge::{Badge, Flavor, Style, render_svg};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    badge_maker: String,
    style: String,
    label: String,
    message: String,
    color: String,
    #[serde(default)]
    links: Vec<String>,
    svg: String,
}

fn cases() -> Vec<Case> {
    serde_json::from_str(include_str!("data/badge-maker-golden.json")).expect("golden file parses")
}

fn flavor(badge_maker: &str) -> Flavor {
    match badge_maker {
        "4.1.0" => Flavor::Classic,
        "6.0.0" => Flavor::Modern,
        other => panic!("no flavor for badge-maker {other}"),
    }
}

fn render(case: &Case) -> String {
    render_svg(&Badge {
        label: &case.label,
        message: &case.message,
        color: &case.color,
        style: case.style.parse().expect("golden style is known"),
        flavor: flavor(&case.badge_maker),
        left_link: case.links.first().map(String::as_str),
        right_link: case.links.get(1).map(String::as_str),
    })
}

fn check(badge_maker: &str) {
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|case| case.badge_maker == badge_maker)
        .collect();
    let mut failures = Vec::new();
    for case in &cases {
        let actual = render(case);
        if actual != case.svg {
            failures.push(format!(
                "{} {} {:?}|{:?} links={:?}\n  expected {}\n  actual   {}",
                case.badge_maker,
                case.style,
                case.label,
                case.message,
                case.links,
                case.svg,
                actual
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_file_covers_every_style_and_both_releases() {
    let cases = cases();
    assert_eq!(cases.len(), 324);
    for badge_maker in ["4.1.0", "6.0.0"] {
        for style in Style::ALL {
            let count = cases
                .iter()
                .filter(|c| c.badge_maker == badge_maker && c.style == style.as_str())
                .count();
            assert!(count >= 32, "{badge_maker} {style}: {count} cases");
        }
    }
    assert!(cases.iter().any(|c| c.links.len() == 2));
    assert!(cases.iter().any(|c| c.links.len() == 1));
}

#[test]
fn matches_badge_maker_4_1_0_byte_for_byte() {
    check("4.1.0");
}

#[test]
fn matches_badge_maker_6_0_0_byte_for_byte() {
    check("6.0.0");
}
