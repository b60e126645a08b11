//! AWS-style input validation. Problems are collected, then reported in AWS's wording:
//! `1 validation error detected: Value 'x' at 'name' failed to satisfy constraint: …`.

use crate::error::ApiError;

/// Collects constraint violations for one request.
#[derive(Debug, Default)]
pub struct Violations {
    problems: Vec<String>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `value` at `field` breaks `constraint`.
    pub fn add(&mut self, field: &str, value: &str, constraint: &str) {
        // Control characters are shown escaped, so a message stays one printable line.
        let mut shown = String::new();
        for c in value.chars().take(256) {
            if c.is_control() {
                shown.extend(c.escape_default());
            } else {
                shown.push(c);
            }
        }
        self.problems.push(format!(
            "Value '{shown}' at '{field}' failed to satisfy constraint: {constraint}"
        ));
    }

    /// Records that a required member is missing.
    pub fn missing(&mut self, field: &str) {
        self.problems.push(format!(
            "Value null at '{field}' failed to satisfy constraint: Member must not be null"
        ));
    }

    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let len = value.chars().count();
        if len < min || len > max {
            self.add(
                field,
                value,
                &format!("Member must have length between {min} and {max}, inclusive"),
            );
        }
    }

    pub fn min_length(&mut self, field: &str, value: &str, min: usize) {
        if value.chars().count() < min {
            self.add(
                field,
                value,
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.add(
                field,
                &value.to_string(),
                &format!("Member must have value between {min} and {max}, inclusive"),
            );
        }
    }

    /// `min` and above, in AWS's wording for a lower bound alone.
    pub fn min_value(&mut self, field: &str, value: i64, min: i64) {
        if value < min {
            self.add(
                field,
                &value.to_string(),
                &format!("Member must have value greater than or equal to {min}"),
            );
        }
    }

    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.add(
                field,
                value,
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
        }
    }

    pub fn count(&mut self, field: &str, len: usize, max: usize) {
        if len > max {
            self.add(
                field,
                &format!("list of {len} items"),
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Ends validation: `Ok` when nothing was wrong, else one `InvalidInputException`.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.problems.len() {
            0 => Ok(()),
            1 => Err(ApiError::invalid_input(format!(
                "1 validation error detected: {}",
                self.problems[0]
            ))),
            n => Err(ApiError::invalid_input(format!(
                "{n} validation errors detected: {}",
                self.problems.join("; ")
            ))),
        }
    }
}

/// A required text member: its value, or AWS's "must not be null" error when it is absent or empty.
pub fn required(field: &str, value: Option<String>) -> Result<String, ApiError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => {
            let mut v = Violations::new();
            v.missing(field);
            Err(v.finish().err().unwrap_or_else(ApiError::internal))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_reads_like_aws() {
        let mut v = Violations::new();
        v.range("timeoutInMinutes", 3, 5, 2160);
        let err = v.finish().unwrap_err();
        assert_eq!(
            err.message,
            "1 validation error detected: Value '3' at 'timeoutInMinutes' failed to satisfy constraint: Member must have value between 5 and 2160, inclusive"
        );
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        let mut v = Violations::new();
        v.add("name", "A\0B\n", "c");
        assert!(
            v.finish()
                .unwrap_err()
                .message
                .contains("Value 'A\\u{0}B\\n' at 'name'")
        );
    }

    #[test]
    fn required_members() {
        assert_eq!(required("id", Some("x".into())).unwrap(), "x");
        assert!(
            required("id", Some(String::new()))
                .unwrap_err()
                .message
                .contains("at 'id'")
        );
        assert!(required("id", None).is_err());
    }

    #[test]
    fn several_problems_are_counted() {
        let mut v = Violations::new();
        v.missing("source");
        v.one_of("environment.type", "X", &["A", "B"]);
        let err = v.finish().unwrap_err();
        assert!(err.message.starts_with("2 validation errors detected: "));
        assert!(
            err.message
                .contains("Member must satisfy enum value set: [A, B]")
        );
    }
}
