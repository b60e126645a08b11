//! What may reach git from a project or a build request: source locations, source versions and
//! environment variable names. The API refuses what fails here (InvalidInputException) and the
//! runner checks again before git runs, with the same functions.

pub mod hosts;

/// Longest source location accepted.
pub const MAX_LOCATION_LEN: usize = 4096;
/// Longest source version accepted (git itself has no limit; CodeBuild versions are short).
pub const MAX_VERSION_LEN: usize = 1024;
/// Longest environment variable name accepted.
pub const MAX_VARIABLE_NAME_LEN: usize = 255;
/// The pattern of an environment variable name, as error messages show it.
pub const VARIABLE_NAME_PATTERN: &str = "[A-Za-z_][A-Za-z0-9_]*";

/// Whether a source of this type is checked out with git (every type but the ones Kiln never
/// fetches: no source, an S3 object or a pipeline's input).
pub fn is_git_source_type(source_type: Option<&str>) -> bool {
    !matches!(source_type, Some("NO_SOURCE" | "S3" | "CODEPIPELINE"))
}

/// Checks a git source location: nothing git would read as an option (`--upload-pack=…`) or
/// as a remote helper (`ext::<command>`, `fd::<n>`), no control characters, no password in it.
pub fn check_git_location(location: &str) -> Result<(), &'static str> {
    if location.trim().is_empty() {
        return Err("is empty");
    }
    if location.len() > MAX_LOCATION_LEN {
        return Err("is too long");
    }
    if location.trim_start().starts_with('-') {
        return Err("must not start with '-'");
    }
    if location.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    // `<transport>::<address>` runs a remote helper program; no CodeBuild source needs one.
    if let Some((transport, _)) = location.split_once("::")
        && !transport.contains('/')
    {
        return Err("remote-helper locations (<transport>::<address>) are not supported");
    }
    if let Some((_, rest)) = location.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && userinfo.contains(':')
        {
            return Err(
                "credentials must not be embedded in the location; use a source credential",
            );
        }
    }
    Ok(())
}

/// The location as an error message may show it: a password written in it is masked.
pub fn redact_password(location: &str) -> String {
    let Some((scheme, rest)) = location.split_once("://") else {
        return location.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => location.to_owned(),
    }
}

/// Checks a source version for what git would misread: a leading `-` (an option), control
/// characters, excessive length. The full ref-name rules are the runner's.
pub fn check_source_version(version: &str) -> Result<(), &'static str> {
    if version.len() > MAX_VERSION_LEN {
        return Err("is too long");
    }
    if version.trim_start().starts_with('-') {
        return Err("must not start with '-'");
    }
    if version.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// Whether `name` can be an environment variable of a build: a shell identifier
/// ([`VARIABLE_NAME_PATTERN`]) of at most [`MAX_VARIABLE_NAME_LEN`] characters.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_VARIABLE_NAME_LEN
        && chars
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_git_would_misread_are_refused() {
        for bad in [
            "--upload-pack=touch /tmp/pwned",
            "-oProxyCommand=x",
            " --output=/tmp/x",
            "ext::sh -c touch% /tmp/pwned",
            "fd::3",
            "fd::7,8",
            "EXT::sh",
            "https://example.com/a\0b",
            "https://example.com/a\nb",
            "https://user:secret@example.com/r.git",
            "",
            "   ",
        ] {
            assert!(check_git_location(bad).is_err(), "{bad:?}");
        }
        for good in [
            "https://github.com/o/r.git",
            "https://user@bitbucket.org/team/repo.git",
            "ssh://git@example.com/r.git",
            "git@github.com:o/r.git",
            "/srv/git/r",
            "file:///srv/git/r",
            "https://example.com/a::b",
        ] {
            assert_eq!(check_git_location(good), Ok(()), "{good:?}");
        }
        assert!(check_git_location(&"a".repeat(MAX_LOCATION_LEN + 1)).is_err());
    }

    #[test]
    fn passwords_are_masked_in_messages() {
        assert_eq!(
            redact_password("https://me:s3cret@example.com/r.git"),
            "https://me:***@example.com/r.git"
        );
        assert_eq!(
            redact_password("https://a:b@c:d@example.com/r"),
            "https://a:***@example.com/r"
        );
        assert_eq!(
            redact_password("https://example.com/a:b@c"),
            "https://example.com/a:b@c"
        );
        assert_eq!(redact_password("--upload-pack=x"), "--upload-pack=x");
    }

    #[test]
    fn versions_git_would_misread_are_refused() {
        for bad in ["--output=/tmp/x", "-b", " -x", "main\0", "a\nb"] {
            assert!(check_source_version(bad).is_err(), "{bad:?}");
        }
        for good in ["main", "refs/heads/a-b", "pr/1", "v1.0", "0123abcd"] {
            assert_eq!(check_source_version(good), Ok(()), "{good:?}");
        }
        assert!(check_source_version(&"a".repeat(MAX_VERSION_LEN + 1)).is_err());
    }

    #[test]
    fn variable_names_are_shell_identifiers() {
        for bad in [
            "A=B",
            "A\0B",
            "1ABC",
            "A B",
            "",
            "A-B",
            "é",
            &"A".repeat(256),
        ] {
            assert!(!is_variable_name(bad), "{bad:?}");
        }
        for good in ["A", "_", "_a1", "PATH", "CODEBUILD_X", &"A".repeat(255)] {
            assert!(is_variable_name(good), "{good:?}");
        }
    }

    fn project_input(changes: serde_json::Value) -> crate::project::ProjectInput {
        let mut input = serde_json::json!({
            "name": "demo",
            "source": {"type": "GITHUB", "location": "https://github.com/o/r.git"},
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {"type": "LINUX_CONTAINER", "image": "img", "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": "arn:aws:iam::123456789012:role/x"
        });
        for (key, value) in changes.as_object().into_iter().flatten() {
            input[key] = value.clone();
        }
        serde_json::from_value(input).unwrap()
    }

    fn refused_at(result: Result<(), crate::ApiError>, field: &str) {
        let err = result.unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::InvalidInput, "{}", err.message);
        assert!(
            err.message.contains(&format!("at '{field}'")),
            "{}",
            err.message
        );
    }

    #[test]
    fn projects_refuse_what_git_would_misread() {
        let create = |changes| crate::project::validate_create(project_input(changes)).map(drop);
        for name in ["A=B", "A\0B", "1ABC", "A B", ""] {
            refused_at(
                create(
                    serde_json::json!({"environment": {"type": "LINUX_CONTAINER", "image": "i",
                    "computeType": "BUILD_GENERAL1_SMALL",
                    "environmentVariables": [{"name": name, "value": "v"}]}}),
                ),
                "environment.environmentVariables.1.member.name",
            );
        }
        let err = create(
            serde_json::json!({"environment": {"type": "LINUX_CONTAINER", "image": "i",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [{"name": "OK", "value": "secret\0value"}]}}),
        )
        .unwrap_err();
        assert!(err.message.contains("member.value"), "{}", err.message);
        assert!(!err.message.contains("secret"), "{}", err.message);
        for location in ["--upload-pack=touch /tmp/x", "ext::sh -c x", "fd::3"] {
            refused_at(
                create(serde_json::json!({"source": {"type": "GITHUB", "location": location}})),
                "source.location",
            );
            refused_at(
                create(serde_json::json!({"secondarySources": [
                    {"type": "GITLAB", "location": location, "sourceIdentifier": "s"}]})),
                "secondarySources.1.member.location",
            );
        }
        // S3 locations are not git's business (and `arn:aws:s3:::b/k` has a `::`).
        assert!(
            create(
                serde_json::json!({"source": {"type": "S3", "location": "arn:aws:s3:::b/k.zip"}})
            )
            .is_ok()
        );
        refused_at(
            create(serde_json::json!({"sourceVersion": "--output=/tmp/x"})),
            "sourceVersion",
        );
        refused_at(
            create(serde_json::json!({"secondarySourceVersions": [
                {"sourceIdentifier": "s", "sourceVersion": "-x"}]})),
            "secondarySourceVersions.1.member.sourceVersion",
        );
        let err = create(serde_json::json!({"source": {"type": "GITHUB",
            "location": "https://me:s3cret@github.com/o/r.git"}}))
        .unwrap_err();
        assert!(!err.message.contains("s3cret"), "{}", err.message);
    }

    #[test]
    fn start_build_refuses_what_git_would_misread() {
        use crate::start::StartBuildInput;
        let start = |json: serde_json::Value| {
            let mut input = serde_json::json!({"projectName": "demo"});
            for (key, value) in json.as_object().into_iter().flatten() {
                input[key] = value.clone();
            }
            serde_json::from_value::<StartBuildInput>(input).unwrap()
        };
        let project = {
            let new =
                crate::project::validate_create(project_input(serde_json::json!({}))).unwrap();
            crate::project::ProjectRecord {
                account_id: "123456789012".into(),
                name: new.name,
                settings: new.settings,
                badge_enabled: false,
                badge_token: "t".into(),
                created: 0.0,
                last_modified: 0.0,
                source_epoch: 0,
                public: Default::default(),
            }
        };
        let validate_and_resolve = |input: StartBuildInput| {
            input.validate()?;
            input.resolve(&project).map(drop)
        };
        refused_at(
            validate_and_resolve(start(
                serde_json::json!({"sourceVersion": "--upload-pack=x"}),
            )),
            "sourceVersion",
        );
        refused_at(
            validate_and_resolve(start(serde_json::json!({"environmentVariablesOverride": [
                {"name": "A=B", "value": "v"}]}))),
            "environmentVariablesOverride.1.member.name",
        );
        refused_at(
            validate_and_resolve(start(
                serde_json::json!({"sourceLocationOverride": "ext::sh -c x"}),
            )),
            "sourceLocationOverride",
        );
        refused_at(
            validate_and_resolve(start(serde_json::json!({"secondarySourcesOverride": [
                {"type": "GITHUB", "location": "--upload-pack=x", "sourceIdentifier": "s"}]}))),
            "secondarySourcesOverride.1.member.location",
        );
        refused_at(
            validate_and_resolve(start(
                serde_json::json!({"secondarySourcesVersionOverride": [
                {"sourceIdentifier": "s", "sourceVersion": "--output=x"}]}),
            )),
            "secondarySourcesVersionOverride.1.member.sourceVersion",
        );
        // Changing the type to one git never fetches makes the location none of git's business.
        assert!(
            validate_and_resolve(start(serde_json::json!({
                "sourceTypeOverride": "NO_SOURCE", "sourceLocationOverride": "-x"})))
            .is_ok()
        );
        assert!(
            validate_and_resolve(start(serde_json::json!({"sourceVersion": "feature/a-b"})))
                .is_ok()
        );
    }

    #[test]
    fn only_fetched_types_are_git_sources() {
        for t in [None, Some("GITHUB"), Some("CODECOMMIT"), Some("BITBUCKET")] {
            assert!(is_git_source_type(t));
        }
        for t in ["NO_SOURCE", "S3", "CODEPIPELINE"] {
            assert!(!is_git_source_type(Some(t)));
        }
    }
}
