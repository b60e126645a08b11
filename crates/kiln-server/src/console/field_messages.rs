//! The API's validation in the console's words: each [`Violation`] the domain finds
//! (`kiln_domain::validate`) goes beside the form field it concerns, as a sentence a person
//! can act on. The member paths and AWS's constraint wording stay the API's.

use kiln_domain::validate::{Rule, Violation};
use kiln_domain::{ApiError, ErrorKind};

use super::errors::FieldErrors;

/// A project name's rule, in words.
pub const NAME_RULE: &str = "Use 2–150 letters, digits, - or _, starting with a letter or digit.";
/// An environment variable name's rule, in words.
pub const VARIABLE_NAME_RULE: &str =
    "a name is letters, digits and _, not starting with a digit, at most 255 characters";

/// A name another project of the account has.
pub const NAME_TAKEN: &str =
    "A project with this name already exists in your account: choose another name.";

/// What the words depend on besides the violation: the form's choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormContext<'a> {
    /// The source provider chosen (`S3` names a bucket and key rather than a repository).
    pub source_type: &'a str,
    /// Whether the buildspec is inserted commands rather than a file.
    pub inline_buildspec: bool,
    /// Whether the image is a custom one.
    pub custom_image: bool,
}

/// The 1-based item of a list member path: `…Variables.2.member.name` gives 2.
fn item_number(path: &str) -> Option<usize> {
    path.split('.')
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[1] == "member")
        .and_then(|w| w[0].parse().ok())
}

/// The project form field of a `CreateProject`/`UpdateProject` member path.
pub fn project_field(path: &str, ctx: &FormContext<'_>) -> &'static str {
    match path {
        "name" => "name",
        "description" => "description",
        "source" | "source.type" => "source_type",
        "source.location" => "source_location",
        "source.buildspec" if ctx.inline_buildspec => "build_commands",
        "source.buildspec" => "buildspec_path",
        "sourceVersion" => "source_version",
        "environment.type" if ctx.custom_image => "custom_env_type",
        "environment.computeType" => "compute_type",
        "environment.privilegedMode" => "privileged",
        p if p.starts_with("environment.environmentVariables") => "env_vars",
        p if p.starts_with("environment.registryCredential")
            || p == "environment.imagePullCredentialsType" =>
        {
            "custom_registry_credential"
        }
        p if p.starts_with("environment") => "image",
        "serviceRole" => "service_role",
        "artifacts.location" => "artifacts_location",
        "artifacts.name" => "artifacts_name",
        "timeoutInMinutes" => "timeout",
        "queuedTimeoutInMinutes" => "queued_timeout",
        "concurrentBuildLimit" => "concurrent_build_limit",
        "badgeEnabled" => "badge",
        // The form sends nothing else; whatever it is, it is about the artifacts or settings
        // the form shows as a whole.
        p if p.starts_with("artifacts") => "artifacts_type",
        _ => "name",
    }
}

/// The words for a violation about `field` (a form field) of the project form.
pub fn project_message(field: &str, v: &Violation, ctx: &FormContext<'_>) -> String {
    let rule = &v.rule;
    match (field, rule) {
        ("name", Rule::Missing) => "Enter a project name.".into(),
        ("name", _) => NAME_RULE.into(),
        ("source_location", Rule::Missing) if ctx.source_type == "S3" => {
            "Enter the bucket and object key, such as my-bucket/source.zip.".into()
        }
        ("source_location", Rule::Missing) => "Enter the repository URL.".into(),
        ("image", Rule::Missing | Rule::MinLength { .. }) => {
            if ctx.custom_image {
                "Enter the image to build in.".into()
            } else {
                "Choose an image.".into()
            }
        }
        ("service_role", Rule::Missing) => "Enter a service role.".into(),
        ("service_role", _) => "Enter a role name (letters, digits and +=,.@_-, at most 64) or a role ARN such as arn:aws:iam::123456789012:role/name.".into(),
        ("artifacts_location", Rule::Missing) => "Enter the bucket for the artifacts.".into(),
        ("custom_registry_credential", Rule::Missing | Rule::MinLength { .. }) => {
            "Enter the secret that holds the registry credential.".into()
        }
        ("timeout" | "queued_timeout", Rule::Range { min, max }) => {
            format!("Enter a whole number of minutes from {min} to {max}.")
        }
        ("env_vars", _) => format!(
            "Variable {}: {}.",
            item_number(&v.field).unwrap_or(1),
            variable_problem(v)
        ),
        _ => rule_message(rule),
    }
}

/// What is wrong with an environment variable (of a project or a build's overrides).
pub fn variable_problem(v: &Violation) -> String {
    match (&v.rule, v.field.ends_with(".value")) {
        (Rule::Missing, false) => "enter a name".into(),
        (Rule::Missing, true) => "enter a value".into(),
        (Rule::VariableName, _) => VARIABLE_NAME_RULE.into(),
        (Rule::NulInValue, _) => "the value cannot contain NUL characters".into(),
        (Rule::OneOf(_), _) => "choose a type from the list".into(),
        (rule, _) => {
            let words = rule_message(rule);
            let lower = words[..1].to_lowercase() + &words[1..];
            lower.trim_end_matches('.').to_string()
        }
    }
}

/// The words of a rule that is not about one particular field.
pub fn rule_message(rule: &Rule) -> String {
    match rule {
        Rule::Missing | Rule::MinLength { .. } => "Fill in this field.".into(),
        Rule::Length { min: 0, max } => format!("Use at most {max} characters."),
        Rule::Length { min, max } => format!("Use {min} to {max} characters."),
        Rule::Range { min, max } => format!("Enter a whole number from {min} to {max}."),
        Rule::MinValue { min } => format!("Enter a whole number of {min} or more."),
        Rule::OneOf(_) => "Choose one of the listed options.".into(),
        Rule::Count { max } => format!("Use at most {max} of these."),
        Rule::ProjectName => NAME_RULE.into(),
        Rule::VariableName => {
            "Use letters, digits and _, not starting with a digit, at most 255 characters.".into()
        }
        Rule::NulInValue => "Values cannot contain NUL characters.".into(),
        Rule::ServiceRole => "Enter a role name or a role ARN.".into(),
        Rule::GitLocation(why) => format!("Kiln cannot fetch from this address: it {why}."),
        Rule::SourceVersion(why) => {
            format!("Enter a branch, tag, pull request or commit; this one {why}.")
        }
        Rule::Other(_) => "Kiln cannot accept this value.".into(),
    }
}

/// Files every violation of the project form beside its field, in words.
pub fn project_errors(errors: &mut FieldErrors, violations: &[Violation], ctx: &FormContext<'_>) {
    for v in violations {
        let field = project_field(&v.field, ctx);
        errors.add(field, project_message(field, v, ctx));
    }
}

/// An operation's refusal of input that passed validation (a name taken meanwhile, a
/// location this host does not allow, a fleet that is gone), beside its field when it has one.
pub fn refused(err: &ApiError) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if err.kind == ErrorKind::ResourceAlreadyExists {
        errors.add("name", NAME_TAKEN.into());
    } else if let Some(why) = err.message.strip_prefix("Invalid source.location: ") {
        errors.add(
            "source_location",
            format!("Kiln cannot use this location: {why}."),
        );
    } else {
        errors.add_general(err.message.clone());
    }
    errors
}

#[cfg(test)]
mod tests {
    use kiln_domain::project::{ProjectInput, create_violations};
    use serde_json::json;

    use super::*;

    /// The messages the domain's violations of `input` get, by form field.
    fn messages(input: serde_json::Value, ctx: FormContext<'_>) -> FieldErrors {
        let input: ProjectInput = serde_json::from_value(input).unwrap();
        let mut errors = FieldErrors::default();
        project_errors(&mut errors, create_violations(&input).list(), &ctx);
        errors
    }

    fn no_api_words(errors: &FieldErrors) {
        for (_, message) in errors.summary() {
            for api in ["Member must", "constraint", "Value ", "member.", "null"] {
                assert!(!message.contains(api), "{message}");
            }
        }
    }

    #[test]
    fn every_problem_of_an_empty_project_is_in_words() {
        let errors = messages(json!({}), FormContext::default());
        assert_eq!(errors.of("name"), "Enter a project name.");
        for field in ["source_type", "image", "service_role", "artifacts_type"] {
            assert!(errors.has(field), "{field}");
        }
        no_api_words(&errors);
    }

    #[test]
    fn names_numbers_and_variables_read_plainly() {
        let input = json!({
            "name": "bad name!",
            "source": {"type": "S3"},
            "environment": {
                "type": "LINUX_CONTAINER", "image": "x", "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": [{"name": "OK", "value": "1"}, {"name": "1BAD", "value": "2"}, {"value": "3"}],
            },
            "serviceRole": "not a role!",
            "artifacts": {"type": "S3"},
            "timeoutInMinutes": 3,
            "queuedTimeoutInMinutes": 999,
            "concurrentBuildLimit": 0,
        });
        let ctx = FormContext {
            source_type: "S3",
            ..FormContext::default()
        };
        let errors = messages(input, ctx);
        // The length and the pattern are one rule in words, said once.
        assert_eq!(errors.of("name"), NAME_RULE);
        assert_eq!(
            errors.of("source_location"),
            "Enter the bucket and object key, such as my-bucket/source.zip."
        );
        assert_eq!(
            errors.of("env_vars"),
            format!("Variable 2: {VARIABLE_NAME_RULE}. Variable 3: enter a name.")
        );
        assert!(errors.of("service_role").starts_with("Enter a role name"));
        assert_eq!(
            errors.of("artifacts_location"),
            "Enter the bucket for the artifacts."
        );
        assert_eq!(
            errors.of("timeout"),
            "Enter a whole number of minutes from 5 to 2160."
        );
        assert_eq!(
            errors.of("queued_timeout"),
            "Enter a whole number of minutes from 5 to 480."
        );
        assert_eq!(
            errors.of("concurrent_build_limit"),
            "Enter a whole number from 1 to 10000."
        );
        no_api_words(&errors);
    }

    #[test]
    fn git_sources_say_repository_and_why() {
        let ctx = FormContext {
            source_type: "GITHUB",
            ..FormContext::default()
        };
        let errors = messages(
            json!({"name": "ok", "source": {"type": "GITHUB", "location": "-u evil"}, "sourceVersion": "-x"}),
            ctx,
        );
        assert_eq!(
            errors.of("source_location"),
            "Kiln cannot fetch from this address: it must not start with '-'."
        );
        assert!(
            errors
                .of("source_version")
                .starts_with("Enter a branch, tag")
        );
        let missing = messages(json!({"name": "ok", "source": {"type": "GITHUB"}}), ctx);
        assert_eq!(missing.of("source_location"), "Enter the repository URL.");
    }

    #[test]
    fn refusals_after_validation_find_their_field() {
        let taken = ApiError::new(
            ErrorKind::ResourceAlreadyExists,
            "Project already exists: x",
        );
        assert_eq!(refused(&taken).of("name"), NAME_TAKEN);
        let local = ApiError::invalid_input("Invalid source.location: /etc is not allowed");
        assert_eq!(
            refused(&local).of("source_location"),
            "Kiln cannot use this location: /etc is not allowed."
        );
        let fleet = ApiError::invalid_input("Fleet linux does not exist");
        assert_eq!(refused(&fleet).summary()[0].1, "Fleet linux does not exist");
    }

    #[test]
    fn every_rule_has_words_of_its_own() {
        for rule in [
            Rule::Missing,
            Rule::Length { min: 0, max: 255 },
            Rule::Length { min: 1, max: 2 },
            Rule::MinLength { min: 1 },
            Rule::Range { min: 1, max: 2 },
            Rule::MinValue { min: 0 },
            Rule::OneOf(vec!["A".into()]),
            Rule::Count { max: 12 },
            Rule::ProjectName,
            Rule::VariableName,
            Rule::NulInValue,
            Rule::ServiceRole,
            Rule::GitLocation("is empty"),
            Rule::SourceVersion("is empty"),
            Rule::Other("Member must be a structure".into()),
        ] {
            let words = rule_message(&rule);
            assert!(!words.contains("Member") && words.ends_with('.'), "{words}");
        }
    }
}
