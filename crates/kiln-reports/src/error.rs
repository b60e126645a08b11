//! The one error type of the crate: what went wrong, and the 1-based line of the report file
//! where the parser was when it did, so a caller can log "file X line N: …".

/// Why a report file could not be parsed. Every variant carries the 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The bytes are not well-formed XML or JSON, or not UTF-8.
    #[error("line {line}: {message}")]
    Syntax { line: u64, message: String },
    /// Well-formed, but not a report of the requested format (wrong root element, wrong shape).
    #[error("line {line}: {message}")]
    Invalid { line: u64, message: String },
    /// A [`Limits`](crate::Limits) bound was reached; the message names the limit.
    #[error("line {line}: {message}")]
    Limit { line: u64, message: String },
    /// The underlying reader failed.
    #[error("line {line}: reading the report failed: {message}")]
    Io { line: u64, message: String },
}

impl ReportError {
    /// The 1-based line where the problem is.
    pub fn line(&self) -> u64 {
        match self {
            Self::Syntax { line, .. }
            | Self::Invalid { line, .. }
            | Self::Limit { line, .. }
            | Self::Io { line, .. } => *line,
        }
    }

    /// The same error at `line` instead.
    pub(crate) fn at_line(mut self, at: u64) -> Self {
        match &mut self {
            Self::Syntax { line, .. }
            | Self::Invalid { line, .. }
            | Self::Limit { line, .. }
            | Self::Io { line, .. } => *line = at,
        }
        self
    }

    /// The message without the line.
    pub fn message(&self) -> &str {
        match self {
            Self::Syntax { message, .. }
            | Self::Invalid { message, .. }
            | Self::Limit { message, .. }
            | Self::Io { message, .. } => message,
        }
    }
}
