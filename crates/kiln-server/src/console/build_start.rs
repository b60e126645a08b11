//! "Start build" on a project's page: a branch, tag or commit and `NAME=value` overrides,
//! checked and sent as the API's typed `StartBuild` input.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use kiln_domain::ErrorKind;
use kiln_domain::project::EnvironmentVariable;
use kiln_domain::start::StartBuildInput;

use super::badge_panel::BadgeChoice;
use super::errors::FieldErrors;
use super::field_messages;
use super::projects::{self, StartFields};
use super::session::Session;
use super::view;
use crate::state::AppState;

/// Most characters of a refused line quoted back.
const QUOTED_LINE: usize = 40;

/// The override lines as variables, with the 1-based line each came from; a line without
/// `=` is a problem beside the field.
fn parse_overrides(text: &str, errors: &mut FieldErrors) -> (Vec<EnvironmentVariable>, Vec<usize>) {
    let mut variables = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((name, value)) => {
                variables.push(EnvironmentVariable {
                    name: Some(name.trim().to_string()).filter(|n| !n.is_empty()),
                    value: Some(value.to_string()),
                    var_type: Some("PLAINTEXT".into()),
                });
                lines.push(i + 1);
            }
            None => {
                let quoted: String = line.trim().chars().take(QUOTED_LINE).collect();
                errors.add(
                    "env_overrides",
                    format!("Line {} (“{quoted}”) needs the form NAME=value.", i + 1),
                );
            }
        }
    }
    (variables, lines)
}

/// The `StartBuild` input of the form, and every problem of it in words.
fn start_input(project: &str, fields: &StartFields) -> (StartBuildInput, FieldErrors) {
    let mut errors = FieldErrors::default();
    let (variables, lines) = parse_overrides(&fields.env_overrides, &mut errors);
    let version = fields.source_version.trim();
    let input = StartBuildInput {
        project_name: Some(project.to_string()),
        source_version: Some(version.to_string()).filter(|v| !v.is_empty()),
        environment_variables_override: Some(variables).filter(|v| !v.is_empty()),
        ..StartBuildInput::default()
    };
    for v in input.violations().list() {
        if v.field.starts_with("environmentVariablesOverride") {
            let item = v
                .field
                .split('.')
                .nth(1)
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(1);
            let line = lines.get(item.saturating_sub(1)).copied().unwrap_or(item);
            errors.add(
                "env_overrides",
                format!("Line {line}: {}.", field_messages::variable_problem(v)),
            );
        } else {
            errors.add("source_version", field_messages::rule_message(&v.rule));
        }
    }
    (input, errors)
}

pub async fn start(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let fields: StartFields = match session.form(&body) {
        Ok(fields) => fields,
        Err(refused) => return *refused,
    };
    let (input, mut errors) = start_input(&name, &fields);
    if errors.is_empty() {
        match crate::api::builds::start(&state, &session.caller, input).await {
            Ok(out) => {
                let uuid = out.build.uuid();
                return view::redirect(&format!("/projects/{name}/builds/{uuid}"));
            }
            Err(err) if err.kind == ErrorKind::ResourceNotFound => {
                return projects::project_not_found(&session, &name);
            }
            Err(err) => errors = field_messages::refused(&err),
        }
    }
    let badge = BadgeChoice::default();
    projects::project_page(&state, &session, &name, &badge, "", fields, errors).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(source_version: &str, env_overrides: &str) -> StartFields {
        StartFields {
            source_version: source_version.into(),
            env_overrides: env_overrides.into(),
        }
    }

    #[test]
    fn overrides_are_name_value_lines() {
        let (input, errors) = start_input("p", &fields(" main ", "A=1\n\n B = x=y\nC=\n"));
        assert!(errors.is_empty(), "{:?}", errors.summary());
        assert_eq!(input.source_version.as_deref(), Some("main"));
        let vars = input.environment_variables_override.unwrap();
        let pairs: Vec<(Option<String>, Option<String>)> =
            vars.into_iter().map(|v| (v.name, v.value)).collect();
        assert_eq!(
            pairs,
            vec![
                (Some("A".into()), Some("1".into())),
                (Some("B".into()), Some(" x=y".into())),
                (Some("C".into()), Some(String::new())),
            ]
        );
    }

    #[test]
    fn every_bad_line_is_named_at_once() {
        let (_, errors) = start_input("p", &fields("-x", "FLAG\nA=1\n\n1B=2\n=3\n"));
        assert_eq!(
            errors.of("env_overrides"),
            format!(
                "Line 1 (“FLAG”) needs the form NAME=value. Line 4: {}. Line 5: enter a name.",
                field_messages::VARIABLE_NAME_RULE
            )
        );
        assert!(
            errors
                .of("source_version")
                .starts_with("Enter a branch, tag")
        );
        for (_, message) in errors.summary() {
            assert!(
                !message.contains("member") && !message.contains("Member"),
                "{message}"
            );
        }
    }
}
