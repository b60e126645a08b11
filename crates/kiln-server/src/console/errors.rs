//! Puts the API's error messages next to the form fields they concern.
//!
//! The API names the member at fault in its messages (`Value 'x' at 'name' failed to satisfy
//! constraint: …`, `Invalid value at 'timeoutInMinutes': …`); a form maps those member paths to
//! its own fields. Whatever names no field is shown above the form.

use std::collections::BTreeMap;

use kiln_domain::ApiError;

/// Errors of one form submission, by field name.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors {
    by_field: BTreeMap<&'static str, Vec<String>>,
    general: Vec<String>,
    /// The fields in the order the page shows them, for the summary (others come after).
    page_order: &'static [&'static str],
}

impl FieldErrors {
    /// Splits `err`'s message into its problems and files each under the field that
    /// `field_for` names for its member path (or a message-specific rule).
    pub fn from_api(
        err: &ApiError,
        field_for: impl Fn(&str, &str) -> Option<&'static str>,
    ) -> Self {
        let mut errors = FieldErrors::default();
        for problem in problems(&err.message) {
            let path = member_path(&problem).unwrap_or_default();
            match field_for(path, &problem) {
                Some(field) => errors.add(field, problem.clone()),
                None => errors.general.push(problem.clone()),
            }
        }
        errors
    }

    /// Files `message` under `field`, once (two rules may say the same thing).
    pub fn add(&mut self, field: &'static str, message: String) {
        let list = self.by_field.entry(field).or_default();
        if !list.contains(&message) {
            list.push(message);
        }
    }

    /// Files a problem that concerns no one field (shown above the form).
    pub fn add_general(&mut self, message: String) {
        self.general.push(message);
    }

    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty() && self.general.is_empty()
    }

    /// Whether `field` has an error (for `aria-invalid`).
    pub fn has(&self, field: &str) -> bool {
        self.by_field.contains_key(field)
    }

    /// The error text of `field`, empty when it has none.
    pub fn of(&self, field: &str) -> String {
        self.by_field
            .get(field)
            .map(|list| list.join(" "))
            .unwrap_or_default()
    }

    /// Every error, for the summary at the top of the form: (field or "", message).
    pub fn summary(&self) -> Vec<(String, String)> {
        let general = self.general.iter().map(|m| (String::new(), m.clone()));
        let mut fields: Vec<_> = self.by_field.iter().collect();
        fields.sort_by_key(|(f, _)| {
            self.page_order
                .iter()
                .position(|p| p == *f)
                .unwrap_or(usize::MAX)
        });
        let fields = fields
            .into_iter()
            .flat_map(|(f, list)| list.iter().map(move |m| (f.to_string(), m.clone())));
        general.chain(fields).collect()
    }

    /// Lists the summary in `order`, the order of the page's fields.
    pub fn in_page_order(mut self, order: &'static [&'static str]) -> Self {
        self.page_order = order;
        self
    }
}

/// The single problems of a message: `N validation errors detected: A; B` gives A and B.
fn problems(message: &str) -> Vec<String> {
    let body = message
        .split_once(" detected: ")
        .filter(|(head, _)| {
            head.ends_with("validation error") || head.ends_with("validation errors")
        })
        .map_or(message, |(_, rest)| rest);
    let mut out: Vec<String> = Vec::new();
    for part in body.split("; ") {
        // A value quoted in a problem may itself hold "; ": only a new "Value …" starts a problem.
        match out.last_mut() {
            Some(last) if !part.starts_with("Value ") => {
                last.push_str("; ");
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
    }
    out
}

/// The member path a problem names: the last ` at '<path>'` in it.
fn member_path(problem: &str) -> Option<&str> {
    let start = problem.rfind(" at '")? + 5;
    let len = problem[start..].find('\'')?;
    Some(&problem[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_domain::ErrorKind;

    fn map(path: &str, _problem: &str) -> Option<&'static str> {
        match path {
            "name" => Some("name"),
            p if p.starts_with("environment.environmentVariables") => Some("env_vars"),
            _ => None,
        }
    }

    #[test]
    fn problems_go_to_their_fields() {
        let err = ApiError::invalid_input(
            "3 validation errors detected: Value 'a b; c' at 'name' failed to satisfy constraint: Member must match; \
             Value null at 'environment.environmentVariables.1.member.value' failed to satisfy constraint: Member must not be null; \
             Value null at 'source' failed to satisfy constraint: Member must not be null",
        );
        let errors = FieldErrors::from_api(&err, map);
        assert_eq!(
            errors.of("name"),
            "Value 'a b; c' at 'name' failed to satisfy constraint: Member must match"
        );
        assert!(errors.has("env_vars"));
        assert!(!errors.has("source"));
        assert_eq!(errors.summary().len(), 3);
        assert_eq!(errors.summary()[0].0, "");
        assert_eq!(errors.summary()[1].0, "env_vars");
        let ordered = errors.in_page_order(&["name", "env_vars"]);
        assert_eq!(ordered.summary()[1].0, "name");
    }

    #[test]
    fn type_errors_name_their_member() {
        let err = ApiError::new(
            ErrorKind::Serialization,
            "Invalid value at 'name': invalid type: integer",
        );
        assert!(FieldErrors::from_api(&err, map).has("name"));
        let other = ApiError::invalid_input("Build badges are not supported for S3 source");
        let errors = FieldErrors::from_api(&other, |_, p| {
            p.starts_with("Build badges").then_some("badge")
        });
        assert_eq!(
            errors.of("badge"),
            "Build badges are not supported for S3 source"
        );
    }
}
