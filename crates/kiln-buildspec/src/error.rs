//! The one error type of this crate: what CodeBuild reports as `YAML_FILE_ERROR`.

use std::borrow::Cow;

use serde_saphyr::{Location, MessageFormatter, UserMessageFormatter};

/// Phase-context status code CodeBuild uses for every buildspec problem.
pub const YAML_FILE_ERROR: &str = "YAML_FILE_ERROR";

/// Where in the buildspec a problem was found (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    /// `None` for the parser's "unknown" location (line 0).
    pub(crate) fn from_location(location: Location) -> Option<Self> {
        (location.line() > 0).then(|| Self {
            line: location.line(),
            column: location.column(),
        })
    }
}

/// A message about a place in the buildspec, kept to one short line (it echoes input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    message: String,
    position: Option<Position>,
}

impl Located {
    pub(crate) fn new(message: impl Into<String>, position: Option<Position>) -> Self {
        Self {
            message: sanitize(&message.into()),
            position,
        }
    }

    /// The message, without location.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn position(&self) -> Option<Position> {
        self.position
    }

    pub fn line(&self) -> Option<u64> {
        self.position.map(|p| p.line)
    }

    pub fn column(&self) -> Option<u64> {
        self.position.map(|p| p.column)
    }
}

/// A buildspec that cannot be run: bad YAML, a wrong type, or a rule CodeBuild enforces. Its
/// message and position are those of its [`Located`].
///
/// `Display` gives `YAML_FILE_ERROR: <message> at line L, column C`;
/// [`BuildspecError::context_message`] gives the same without the status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{YAML_FILE_ERROR}: {}", self.context_message())]
pub struct BuildspecError(Located);

impl BuildspecError {
    pub(crate) fn new(message: impl Into<String>, position: Option<Position>) -> Self {
        Self(Located::new(message, position))
    }

    /// The text for the phase context `message` (status code is [`YAML_FILE_ERROR`]).
    pub fn context_message(&self) -> String {
        match self.position() {
            Some(p) => format!("{} at line {}, column {}", self.message(), p.line, p.column),
            None => self.message().to_owned(),
        }
    }
}

impl std::ops::Deref for BuildspecError {
    type Target = Located;
    fn deref(&self) -> &Located {
        &self.0
    }
}

impl From<serde_saphyr::Error> for BuildspecError {
    fn from(err: serde_saphyr::Error) -> Self {
        let position = err.location().and_then(Position::from_location);
        // The formatter wants the innermost error; snippet and alias wrappers only add context
        // we already carry as `position`.
        let mut inner = err.without_snippet();
        while let serde_saphyr::Error::AliasError { error, .. } = inner {
            inner = error.without_snippet();
        }
        let message = match inner {
            // Usually an unquoted command containing ": ", which YAML reads as a mapping.
            serde_saphyr::Error::Unexpected {
                expected: "string scalar",
                ..
            } => Cow::Borrowed(
                "expected a string, found a mapping or list (quote text that contains \": \")",
            ),
            _ => UserMessageFormatter.format_message(inner),
        };
        Self::new(message, position)
    }
}

/// Messages echo parts of untrusted input into build logs: keep them on one line and short.
fn sanitize(text: &str) -> String {
    const MAX_CHARS: usize = 500;
    let mut out: String = text
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_status_code_and_position() {
        let err = BuildspecError::new(
            "did not find expected key",
            Some(Position { line: 3, column: 5 }),
        );
        assert_eq!(
            err.to_string(),
            "YAML_FILE_ERROR: did not find expected key at line 3, column 5"
        );
        assert_eq!(
            err.context_message(),
            "did not find expected key at line 3, column 5"
        );
    }

    #[test]
    fn display_without_position() {
        let err = BuildspecError::new("too big", None);
        assert_eq!(err.to_string(), "YAML_FILE_ERROR: too big");
    }

    #[test]
    fn control_characters_and_length_are_tamed() {
        let err = BuildspecError::new(format!("a\nb\u{1b}[31m{}", "x".repeat(2000)), None);
        assert!(!err.message().contains('\n'));
        assert!(!err.message().contains('\u{1b}'));
        assert!(err.message().chars().count() <= 501);
    }
}
