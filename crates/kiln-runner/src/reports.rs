//! Report files (buildspec `reports:`): found in the source directory as artifact files are,
//! read through the same handle on it, and parsed by `kiln-reports`, within limits per group and
//! per build so that a build cannot make Kiln read or keep without bound (docs/reports.md).
//!
//! Nothing here fails a build: every problem becomes a log line and, for a file, its outcome.

mod export;

use std::io::{self, Read};
use std::mem::size_of;

use kiln_buildspec::ReportSpec;
use kiln_reports::{
    CollectedFile, CollectedReport, Limits, ParsedReport, TestCase, TestCaseStatus, parse_report,
};
use tokio_util::sync::CancellationToken;

use crate::artifacts::{self, ArtifactError, ArtifactFile, ArtifactSelection};
use crate::confined::{self, Dir, Follow};
pub use export::ReportExport;

/// Most files read for one report group; more are left out (and the report is incomplete).
pub const MAX_FILES_PER_GROUP: usize = 1_000;
/// Most bytes of report files read for one build, all groups together.
pub const MAX_READ_BYTES_PER_BUILD: u64 = 512 * 1024 * 1024;
/// Most bytes the parsed results of one build may hold (test cases, files and their text),
/// all groups together, until they are handed to the store.
pub const MAX_RETAINED_BYTES_PER_BUILD: usize = 256 * 1024 * 1024;
/// Longest text of a build's own making (a file name, a parse message) put in a log line.
const MAX_LOGGED_CHARS: usize = 500;

/// What is left of a build's report limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBudget {
    pub read_bytes: u64,
    pub retained_bytes: usize,
}

impl Default for ReportBudget {
    fn default() -> Self {
        Self {
            read_bytes: MAX_READ_BYTES_PER_BUILD,
            retained_bytes: MAX_RETAINED_BYTES_PER_BUILD,
        }
    }
}

impl ReportBudget {
    /// The parser's limits for the next file: its own defaults, lowered to what is left.
    fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            max_bytes: defaults.max_bytes.min(self.read_bytes),
            max_items: defaults
                .max_items
                .min(self.retained_bytes / size_of::<TestCase>()),
            max_kept_bytes: defaults.max_kept_bytes.min(self.retained_bytes),
            ..defaults
        }
    }
}

/// One report group collected, and the build log's lines about it, in order.
#[derive(Debug)]
pub struct GroupCollection {
    pub report: CollectedReport,
    pub log_lines: Vec<String>,
    /// The files that were opened (parsed or not), for an export of the raw files: paths
    /// beneath the source directory, and relative to the base directory.
    pub raw_files: Vec<ArtifactFile>,
}

/// Finds, reads and parses the files of report group `group` beneath `root` (the source
/// directory). Files are selected by the artifact rules ([`artifacts::collect`]), so patterns
/// cannot leave `root` and links are followed only where the kernel keeps them beneath it;
/// each file is then opened beneath `root` as well. Stops early when `cancel` is cancelled.
pub fn collect_group(
    root: &Dir,
    group: &str,
    spec: &ReportSpec,
    budget: &mut ReportBudget,
    cancel: &CancellationToken,
) -> GroupCollection {
    let mut log_lines = vec![format!(
        "Collecting {} report files of report group {}: {} in {}",
        spec.file_format,
        printable(group),
        printable(&spec.files.join(", ")),
        printable(spec.base_directory.as_deref().unwrap_or("."))
    )];
    let mut report = CollectedReport {
        group: group.to_owned(),
        format: spec.file_format,
        files: Vec::new(),
        missing_files: false,
    };
    // Paths are recorded by [`recorded_path`]: two files of one name are no conflict here.
    let selection = ArtifactSelection {
        files: spec.files.clone(),
        base_directory: spec.base_directory.clone(),
        discard_paths: false,
        exclude_paths: Vec::new(),
        enable_symlinks: false,
    };
    let selected = match artifacts::collect(root, &selection) {
        Ok(selected) => selected,
        Err(err) => {
            report.missing_files = true;
            log_lines.push(format!("Warning: {}", printable(&selection_problem(&err))));
            return GroupCollection {
                report,
                log_lines,
                raw_files: Vec::new(),
            };
        }
    };
    for left_out in &selected.left_out {
        report.missing_files = true;
        log_lines.push(format!(
            "Warning: left out of the report: {}",
            printable(left_out)
        ));
    }
    let found = selected.files.len();
    log_lines.push(format!("Found {found} report file(s)"));
    if found > MAX_FILES_PER_GROUP {
        report.missing_files = true;
        log_lines.push(format!(
            "Warning: only the first {MAX_FILES_PER_GROUP} report files of the group are read"
        ));
    }
    let mut raw_files = Vec::new();
    for file in selected.files.into_iter().take(MAX_FILES_PER_GROUP) {
        if cancel.is_cancelled() {
            report.missing_files = true;
            break;
        }
        let read = read_and_parse(root, &file, spec.file_format, budget);
        log_lines.push(read.log_line);
        report.files.push(CollectedFile {
            path: recorded_path(&file, spec.discard_paths),
            outcome: read.outcome,
        });
        if read.opened {
            raw_files.push(file);
        }
    }
    GroupCollection {
        report,
        log_lines,
        raw_files,
    }
}

/// Why the group's files could not be selected, for the log.
fn selection_problem(err: &ArtifactError) -> String {
    match err {
        ArtifactError::NoMatchingPaths => "no report files match the group's files".to_owned(),
        ArtifactError::BaseDirectoryNotFound(base) => {
            format!("no report base directory matches {base:?}")
        }
        other => format!("report files not collected: {other}"),
    }
}

/// The path the report records: relative to the base directory, or the name alone.
fn recorded_path(file: &ArtifactFile, discard_paths: bool) -> String {
    let path = file.archive_path.as_str();
    if discard_paths {
        path.rsplit('/').next().unwrap_or(path).to_owned()
    } else {
        path.to_owned()
    }
}

/// What became of one report file.
struct FileRead {
    outcome: Result<ParsedReport, String>,
    /// How it went, for the build log.
    log_line: String,
    /// Whether the file could be opened (a regular file beneath the source directory).
    opened: bool,
}

/// Opens the file beneath `root`, parses it within what is left of `budget`, and says how it
/// went in one log line.
fn read_and_parse(
    root: &Dir,
    file: &ArtifactFile,
    format: kiln_reports::ReportFileFormat,
    budget: &mut ReportBudget,
) -> FileRead {
    let shown = printable(&file.source.to_string_lossy());
    let refused = |why: String, opened: bool| FileRead {
        log_line: format!("Cannot read report file {shown}: {}", printable(&why)),
        outcome: Err(why),
        opened,
    };
    let limits = budget.limits();
    if limits.max_bytes == 0 || limits.max_items == 0 {
        return refused(
            "the build's report files reached Kiln's limits for one build".to_owned(),
            false,
        );
    }
    let opened = match confined::open_regular(root, &file.source, Follow::Beneath) {
        Ok(opened) => opened,
        Err(err) => return refused(confined::describe(&err), false),
    };
    // A file already too large is refused without reading it.
    if let Ok(meta) = opened.metadata()
        && meta.len() > limits.max_bytes
    {
        return refused(
            format!(
                "it is {} bytes, more than the limit of {} bytes",
                meta.len(),
                limits.max_bytes
            ),
            true,
        );
    }
    let mut counted = Counted {
        inner: opened,
        bytes: 0,
    };
    let parsed = parse_report(format, &mut counted, &limits);
    budget.read_bytes = budget.read_bytes.saturating_sub(counted.bytes);
    match parsed {
        Ok(parsed) => {
            budget.retained_bytes = budget
                .retained_bytes
                .saturating_sub(parsed.retained_bytes());
            FileRead {
                log_line: format!("Parsed report file {shown}: {}", summary(&parsed)),
                outcome: Ok(parsed),
                opened: true,
            }
        }
        Err(err) => FileRead {
            log_line: format!(
                "Cannot parse report file {shown} at line {}: {}",
                err.line(),
                printable(err.message())
            ),
            outcome: Err(err.to_string()),
            opened: true,
        },
    }
}

/// `12 test cases (2 failed)` or `3 files, 81.25% of lines covered`.
fn summary(parsed: &ParsedReport) -> String {
    match parsed {
        ParsedReport::Test(report) => {
            let count = |s: TestCaseStatus| {
                report
                    .summary
                    .status_counts
                    .get(s.as_str())
                    .copied()
                    .unwrap_or(0)
            };
            let failed = count(TestCaseStatus::Failed) + count(TestCaseStatus::Error);
            format!("{} test cases ({failed} failed)", report.summary.total)
        }
        ParsedReport::CodeCoverage(report) => format!(
            "{} files, {}% of lines covered",
            report.files.len(),
            report.summary.line_coverage_percentage
        ),
    }
}

/// `text` fit for one log line: control characters escaped, and cut short.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_LOGGED_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Counts the bytes the parser reads, against the build's budget.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
