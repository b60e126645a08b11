//! Names, types and size limits, as the SSM and Secrets Manager models and documentation state
//! them (docs/secrets.md, "Limits").

/// `PSParameterName`'s limit, ARNs included.
pub const MAX_PARAMETER_NAME_CHARS: usize = 2048;
/// Parameter Store's hierarchy depth limit.
const MAX_PARAMETER_LEVELS: usize = 15;
/// A standard parameter's value limit (an advanced parameter's is 8 KB).
const MAX_STANDARD_VALUE_CHARS: usize = 4096;
const MAX_ADVANCED_VALUE_CHARS: usize = 8192;
/// `NameType`'s limit.
pub const MAX_SECRET_NAME_CHARS: usize = 512;
/// `SecretStringType`'s limit (and `SecretBinaryType`'s).
pub const MAX_SECRET_STRING_BYTES: usize = 65536;

/// The three parameter types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    String,
    StringList,
    SecureString,
}

impl ParameterType {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "String" => Some(Self::String),
            "StringList" => Some(Self::StringList),
            "SecureString" => Some(Self::SecureString),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::StringList => "StringList",
            Self::SecureString => "SecureString",
        }
    }
}

/// The value limit of a tier (`Standard` unless `Advanced`); `None` for an unknown tier.
pub fn max_parameter_value_chars(tier: Option<&str>) -> Option<usize> {
    match tier {
        None | Some("Standard") | Some("Intelligent-Tiering") => Some(MAX_STANDARD_VALUE_CHARS),
        Some("Advanced") => Some(MAX_ADVANCED_VALUE_CHARS),
        Some(_) => None,
    }
}

const PARAMETER_NAME_RULE: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" \
     (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash \
     symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 \
     symbols .-_";

/// The parameter `name_or_arn` names (an ARN of `account_id`'s parameter is read as its name),
/// or why it is not a valid name.
pub fn parameter_name(name_or_arn: &str, account_id: &str) -> Result<String, String> {
    let name = match name_or_arn.strip_prefix("arn:") {
        Some(rest) => parameter_of_arn(rest, account_id).ok_or_else(|| {
            "Parameter ARN is not an ARN of a parameter of this account".to_owned()
        })?,
        None => name_or_arn.to_owned(),
    };
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    let bare = name.trim_start_matches('/').to_ascii_lowercase();
    let reserved = bare.starts_with("aws") || bare.starts_with("ssm");
    let path_ok = !name.contains('/')
        || (name.starts_with('/') && !name.ends_with('/') && !name.contains("//"));
    if name.is_empty() || name.chars().count() > MAX_PARAMETER_NAME_CHARS {
        return Err(format!(
            "1 validation error detected: Value at 'name' failed to satisfy constraint: Member \
             must have length between 1 and {MAX_PARAMETER_NAME_CHARS}"
        ));
    }
    if !valid_chars || reserved || !path_ok {
        return Err(PARAMETER_NAME_RULE.to_owned());
    }
    if name.matches('/').count() > MAX_PARAMETER_LEVELS {
        return Err(format!(
            "A parameter name can have at most {MAX_PARAMETER_LEVELS} levels of hierarchy"
        ));
    }
    Ok(name)
}

/// `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME` (after `arn:`): the name, with its leading slash
/// for a path.
fn parameter_of_arn(rest: &str, account_id: &str) -> Option<String> {
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if service != "ssm" || account != account_id {
        return None;
    }
    let name = resource.strip_prefix("parameter")?;
    // `parameter/a/b` names `/a/b`; `parameter/a` names `a`.
    let name = name.strip_prefix('/')?;
    Some(if name.contains('/') {
        format!("/{name}")
    } else {
        name.to_owned()
    })
}

/// A GetParametersByPath path: `/`, or `/a/b` (a trailing slash is dropped), or why not.
pub fn parameter_path(path: &str) -> Result<String, String> {
    if path == "/" {
        return Ok(path.to_owned());
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if !trimmed.starts_with('/') {
        return Err(
            "The parameter path doesn't meet the requirements: it must start with a forward slash (/)"
                .to_owned(),
        );
    }
    parameter_name(trimmed, "").map_err(|_| PARAMETER_NAME_RULE.to_owned())
}

/// A secret's name, or why it is not valid: 1 to 512 of ASCII letters, digits and `/_+=.@-`.
pub fn secret_name(name: &str) -> Result<&str, String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_SECRET_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of \
             the following: -/_+=.@! (at most {MAX_SECRET_NAME_CHARS} characters)"
        ))
    }
}

/// A secret's ARN: its name and `suffix`, six random characters, as Secrets Manager makes them.
pub fn secret_arn(region: &str, account_id: &str, name: &str, suffix: &str) -> String {
    format!("arn:aws:secretsmanager:{region}:{account_id}:secret:{name}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_follow_the_rules() {
        assert_eq!(parameter_name("/app/db", "1").unwrap(), "/app/db");
        assert_eq!(
            parameter_name("plain.name-1_x", "1").unwrap(),
            "plain.name-1_x"
        );
        for bad in ["", "a/b", "/a/", "/a//b", "aws-x", "/SSM/x", "a b", "/é"] {
            assert!(parameter_name(bad, "1").is_err(), "{bad}");
        }
        assert!(parameter_name(&"/a".repeat(16), "1").is_err());
        assert!(parameter_name(&"x".repeat(2049), "1").is_err());
    }

    #[test]
    fn parameter_arns_name_their_parameter_in_their_account() {
        let arn = "arn:aws:ssm:us-east-1:111:parameter/app/db";
        assert_eq!(parameter_name(arn, "111").unwrap(), "/app/db");
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:111:parameter/top", "111").unwrap(),
            "top"
        );
        assert!(parameter_name(arn, "222").is_err());
        assert!(parameter_name("arn:aws:s3:::bucket", "111").is_err());
    }

    #[test]
    fn paths_and_secret_names() {
        assert_eq!(parameter_path("/").unwrap(), "/");
        assert_eq!(parameter_path("/a/b/").unwrap(), "/a/b");
        assert!(parameter_path("a/b").is_err());
        assert!(secret_name("prod/db+x=y.z@w-1").is_ok());
        assert!(secret_name("bad name").is_err());
        assert!(secret_name("").is_err());
        assert!(secret_name(&"n".repeat(513)).is_err());
        assert_eq!(
            secret_arn("us-east-1", "111", "db", "AbCdEf"),
            "arn:aws:secretsmanager:us-east-1:111:secret:db-AbCdEf"
        );
    }
}
