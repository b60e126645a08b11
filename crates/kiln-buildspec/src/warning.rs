//! Warnings: what Kiln accepted in a buildspec but read in a way its author may not expect, or
//! ignores. The runner writes them at the top of the build log.

use std::fmt;

use crate::error::Position;

/// One thing Kiln interpreted or ignored, and where (1-based line and column).
///
/// `Display` gives `buildspec line L, column C: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    message: String,
    position: Option<Position>,
}

impl Warning {
    pub(crate) fn new(message: impl Into<String>, position: Option<Position>) -> Self {
        Self {
            message: crate::error::sanitize(&message.into()),
            position,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn position(&self) -> Option<Position> {
        self.position
    }

    pub fn line(&self) -> Option<u64> {
        self.position.map(|p| p.line)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(
                f,
                "buildspec line {}, column {}: {}",
                p.line, p.column, self.message
            ),
            None => write!(f, "buildspec: {}", self.message),
        }
    }
}
