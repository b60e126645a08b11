//! Kiln's own log, on standard error: text for people (coloured only on a terminal, and never
//! under `NO_COLOR`), or one JSON object a line for log collectors.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the process's subscriber; the level comes from `KILN_LOG` (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("KILN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour_wanted()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Colour only for a terminal, and not when `NO_COLOR` is set (https://no-color.org).
fn colour_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
