//! The build log: Kiln's own `[Container]` lines, interleaved with the commands' output, which
//! the shell session writes to the same file directly.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// CodeBuild's agent timestamp, e.g. `2026/11/24 14:00:00.123456` (UTC).
const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]/[month]/[day] [hour]:[minute]:[second].[subsecond digits:6]");

pub(super) struct BuildLog {
    file: File,
}

impl BuildLog {
    /// Opens (or creates) the log for appending: every writer appends, so lines and command
    /// output keep their order.
    pub(super) fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { file })
    }

    /// The file commands and git write to.
    pub(super) fn file(&self) -> &File {
        &self.file
    }

    /// Writes one `[Container] <timestamp> <text>` line. Best effort: a log that cannot be
    /// written (disk full) must not change how the build ends, and commands see the same error.
    pub(super) fn line(&self, text: &str) {
        let now = OffsetDateTime::now_utc();
        let stamp = now.format(TIMESTAMP).unwrap_or_default();
        let line = format!("[Container] {stamp} {text}\n");
        let _ = (&self.file).write_all(line.as_bytes());
    }
}
