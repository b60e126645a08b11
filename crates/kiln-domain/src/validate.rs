//! AWS-style input validation. Problems are collected, then reported in AWS's wording:
//! `1 validation error detected: Value 'x' at 'name' failed to satisfy constraint: …`.

use crate::error::ApiError;

/// What a member breaks: the code a form turns into its own words, with what the API's message
/// needs. [`Rule::constraint`] is the API's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// A required member is absent (or empty).
    Missing,
    Length {
        min: usize,
        max: usize,
    },
    MinLength {
        min: usize,
    },
    Range {
        min: i64,
        max: i64,
    },
    MinValue {
        min: i64,
    },
    OneOf(Vec<String>),
    /// A list holds more than `max` items.
    Count {
        max: usize,
    },
    /// Not a project name (`ProjectName`: letters, digits, `-` and `_`, 2 to 150, starting with
    /// a letter or digit).
    ProjectName,
    /// Not an environment variable name (a shell identifier).
    VariableName,
    /// A variable's value holds a NUL character.
    NulInValue,
    /// Neither an IAM role ARN nor a role name.
    ServiceRole,
    /// A location git would misread; the reason in words ("must not start with '-'").
    GitLocation(&'static str),
    /// A source version git would misread; the reason in words.
    SourceVersion(&'static str),
    /// Any other constraint, in the API's words (members no console form has).
    Other(String),
}

impl Rule {
    /// The constraint as the API words it (after `failed to satisfy constraint: `).
    pub fn constraint(&self) -> String {
        match self {
            Rule::Missing => "Member must not be null".into(),
            Rule::Length { min, max } => {
                format!("Member must have length between {min} and {max}, inclusive")
            }
            Rule::MinLength { min } => {
                format!("Member must have length greater than or equal to {min}")
            }
            Rule::Range { min, max } => {
                format!("Member must have value between {min} and {max}, inclusive")
            }
            Rule::MinValue { min } => {
                format!("Member must have value greater than or equal to {min}")
            }
            Rule::OneOf(allowed) => {
                format!("Member must satisfy enum value set: [{}]", allowed.join(", "))
            }
            Rule::Count { max } => format!("Member must have length less than or equal to {max}"),
            Rule::ProjectName => format!(
                "Member must satisfy regular expression pattern: {}",
                crate::project::NAME_PATTERN
            ),
            Rule::VariableName => format!(
                "Member must satisfy regular expression pattern: {} and have length between 1 and {}, inclusive",
                crate::source::VARIABLE_NAME_PATTERN,
                crate::source::MAX_VARIABLE_NAME_LEN
            ),
            Rule::NulInValue => "Member must not contain NUL characters".into(),
            Rule::ServiceRole => "Member must be an IAM role ARN of the form arn:aws:iam::<12-digit account>:role/<name>".into(),
            Rule::GitLocation(why) => format!("Member must be a git repository location: it {why}"),
            Rule::SourceVersion(why) => {
                format!("Member must be a branch, tag, pull request or commit: it {why}")
            }
            Rule::Other(text) => text.clone(),
        }
    }
}

/// One broken constraint: the member's path (`environment.environmentVariables.1.member.name`),
/// the value as shown in messages (`None` for a missing member) and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub value: Option<String>,
    pub rule: Rule,
}

impl Violation {
    /// The problem in AWS's wording: `Value 'x' at 'name' failed to satisfy constraint: …`.
    pub fn message(&self) -> String {
        let value = match &self.value {
            Some(value) => format!("'{value}'"),
            None => "null".into(),
        };
        format!(
            "Value {value} at '{}' failed to satisfy constraint: {}",
            self.field,
            self.rule.constraint()
        )
    }
}

/// Collects constraint violations for one request.
#[derive(Debug, Default)]
pub struct Violations {
    list: Vec<Violation>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `value` at `field` breaks `constraint` (in the API's words).
    pub fn add(&mut self, field: &str, value: &str, constraint: &str) {
        self.broke(field, value, Rule::Other(constraint.to_string()));
    }

    /// Records that `value` at `field` breaks `rule`.
    pub fn broke(&mut self, field: &str, value: &str, rule: Rule) {
        // Control characters are shown escaped, so a message stays one printable line.
        let mut shown = String::new();
        for c in value.chars().take(256) {
            if c.is_control() {
                shown.extend(c.escape_default());
            } else {
                shown.push(c);
            }
        }
        self.list.push(Violation {
            field: field.to_string(),
            value: Some(shown),
            rule,
        });
    }

    /// Records that a required member is missing.
    pub fn missing(&mut self, field: &str) {
        self.list.push(Violation {
            field: field.to_string(),
            value: None,
            rule: Rule::Missing,
        });
    }

    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let len = value.chars().count();
        if len < min || len > max {
            self.broke(field, value, Rule::Length { min, max });
        }
    }

    pub fn min_length(&mut self, field: &str, value: &str, min: usize) {
        if value.chars().count() < min {
            self.broke(field, value, Rule::MinLength { min });
        }
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.broke(field, &value.to_string(), Rule::Range { min, max });
        }
    }

    /// `min` and above, in AWS's wording for a lower bound alone.
    pub fn min_value(&mut self, field: &str, value: i64, min: i64) {
        if value < min {
            self.broke(field, &value.to_string(), Rule::MinValue { min });
        }
    }

    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            let allowed = allowed.iter().map(|a| (*a).to_string()).collect();
            self.broke(field, value, Rule::OneOf(allowed));
        }
    }

    pub fn count(&mut self, field: &str, len: usize, max: usize) {
        if len > max {
            self.broke(field, &format!("list of {len} items"), Rule::Count { max });
        }
    }

    /// Every violation so far, in the order found.
    pub fn list(&self) -> &[Violation] {
        &self.list
    }

    pub fn into_list(self) -> Vec<Violation> {
        self.list
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Ends validation: `Ok` when nothing was wrong, else one `InvalidInputException`.
    pub fn finish(self) -> Result<(), ApiError> {
        let problems: Vec<String> = self.list.iter().map(Violation::message).collect();
        match problems.len() {
            0 => Ok(()),
            1 => Err(ApiError::invalid_input(format!(
                "1 validation error detected: {}",
                problems[0]
            ))),
            n => Err(ApiError::invalid_input(format!(
                "{n} validation errors detected: {}",
                problems.join("; ")
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
