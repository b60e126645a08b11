//! The JSON formats' reader: serde_json over a [`Metered`] reader, driven by a
//! [`DeserializeSeed`] so a parser handles each scenario or file as it is read and keeps only
//! its results (the document is never built; see docs/reports.md for why). serde_json bounds
//! nesting itself (128 levels), so deep arrays are an error, not a stack overflow.
//!
//! A limit reached inside a visitor cannot travel through serde as a [`ReportError`]; the
//! visitor parks it in a [`Held`] and fails with a placeholder; the parser then puts it back
//! ([`Held::restore`]) with the line serde_json gives the placeholder.

use std::io::{self, Read};

use serde::de::{self, DeserializeSeed};

use crate::ReportError;
use crate::limits::{Limits, Metered};

/// Holds the first error a visitor could not return as itself.
#[derive(Default)]
pub(crate) struct Held(Option<ReportError>);

impl Held {
    /// Parks `err`; returns the serde error that stops deserializing.
    pub(crate) fn hold<E: de::Error>(&mut self, err: ReportError) -> E {
        let placeholder = E::custom(err.message());
        self.0.get_or_insert(err);
        placeholder
    }

    /// The held error at `err`'s line, if one is held (then `err` is its placeholder), else `err`.
    pub(crate) fn restore(&mut self, err: ReportError) -> ReportError {
        match self.0.take() {
            Some(held) => held.at_line(err.line()),
            None => err,
        }
    }
}

/// Deserializes one JSON document from `input` with `seed`, reading at most
/// `limits.max_json_bytes` (and `max_bytes`).
pub(crate) fn read_json<'de, S: DeserializeSeed<'de>>(
    input: impl Read,
    limits: &Limits,
    seed: S,
) -> Result<S::Value, ReportError> {
    let max = limits.max_bytes.min(limits.max_json_bytes);
    let mut metered = Metered::new(input, max, u64::MAX);
    let mut de = serde_json::Deserializer::from_reader(&mut metered);
    let value = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    drop(de);
    value.map_err(|err| {
        let line = (err.line() as u64).max(1);
        match err.io_error_kind() {
            Some(_) if metered.limit_hit() => metered.read_error(&io::Error::other("limit")),
            Some(_) => ReportError::Io {
                line: metered.line(),
                message: err.to_string(),
            },
            None if err.is_data() => ReportError::Invalid {
                line,
                message: strip_position(&err),
            },
            None => ReportError::Syntax {
                line,
                message: strip_position(&err),
            },
        }
    })
}

/// serde_json's message without its " at line L column C" (the error has the line).
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}
