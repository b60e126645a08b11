//! Warnings: what Kiln accepted in a buildspec but read in a way its author may not expect, or
//! ignores. The runner writes them at the top of the build log.

use std::fmt;
use std::ops::Deref;

use crate::error::{Located, Position};

/// One thing Kiln interpreted or ignored, and where (1-based line and column); its message and
/// position are those of its [`Located`].
///
/// `Display` gives `buildspec line L, column C: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(Located);

impl Warning {
    pub(crate) fn new(message: impl Into<String>, position: Option<Position>) -> Self {
        Self(Located::new(message, position))
    }
}

impl Deref for Warning {
    type Target = Located;
    fn deref(&self) -> &Located {
        &self.0
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position() {
            Some(p) => write!(
                f,
                "buildspec line {}, column {}: {}",
                p.line,
                p.column,
                self.message()
            ),
            None => write!(f, "buildspec: {}", self.message()),
        }
    }
}
