//! Prints a status badge SVG to stdout, e.g. for documentation images:
//!
//! ```sh
//! cargo run -p kiln-badge --example render -- passing > passing.svg
//! cargo run -p kiln-badge --example render -- in-progress for-the-badge deploy > deploy.svg
//! ```
//!
//! Arguments: `<passing|failing|in-progress|unknown> [style] [label]`.

use std::process::ExitCode;

use kiln_badge::{BadgeStatus, DEFAULT_LABEL, Style, check_label, render_status};

const USAGE: &str = "usage: render <passing|failing|in-progress|unknown> \
                     [flat|flat-square|plastic|for-the-badge|social] [label]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(status) = args.first().and_then(|name| {
        BadgeStatus::ALL
            .into_iter()
            .find(|status| status.message().replace(' ', "-") == *name)
    }) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let style = match args.get(1).map(|name| name.parse::<Style>()) {
        None => Style::default(),
        Some(Ok(style)) => style,
        Some(Err(error)) => {
            eprintln!("{error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let label = args.get(2).map_or(DEFAULT_LABEL, String::as_str);
    if let Err(error) = check_label(label) {
        eprintln!("{error}");
        return ExitCode::from(2);
    }
    println!("{}", render_status(status, style, label));
    ExitCode::SUCCESS
}
