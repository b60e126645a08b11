//! What a build's variable of type PARAMETER_STORE or SECRETS_MANAGER (or a buildspec's
//! `env.parameter-store` / `env.secrets-manager` entry) refers to. CodeBuild's form for Secrets
//! Manager is `secret-id:json-key:version-stage:version-id`, every part after the id optional
//! (docs/secrets.md, "Resolution").

use serde::{Deserialize, Serialize};

/// The longest reference accepted (a parameter ARN at its longest, with room).
const MAX_REFERENCE_CHARS: usize = 4096;

/// A value a build's variable takes from Parameter Store or Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum SecretReference {
    /// A parameter by name or ARN (its latest version; a SecureString decrypted).
    Parameter { name: String },
    /// A secret's value, or one key of its JSON value.
    Secret(SecretsManagerReference),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretsManagerReference {
    /// The secret's name or ARN.
    pub secret_id: String,
    pub json_key: Option<String>,
    pub version_stage: Option<String>,
    pub version_id: Option<String>,
}

impl SecretReference {
    /// The reference of a variable of `var_type` (`PARAMETER_STORE` or `SECRETS_MANAGER`)
    /// whose value is `value`; `None` for another type. Fails, without quoting the value, when
    /// the value is not a reference.
    pub fn of_variable(var_type: &str, value: &str) -> Option<Result<Self, String>> {
        match var_type {
            "PARAMETER_STORE" => Some(Self::parameter(value)),
            "SECRETS_MANAGER" => Some(SecretsManagerReference::parse(value).map(Self::Secret)),
            _ => None,
        }
    }

    pub fn parameter(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.chars().count() > MAX_REFERENCE_CHARS {
            return Err("the parameter name is empty or too long".to_owned());
        }
        Ok(Self::Parameter {
            name: name.to_owned(),
        })
    }

    /// The service the reference reads, as CodeBuild names the variable type.
    pub fn variable_type(&self) -> &'static str {
        match self {
            Self::Parameter { .. } => "PARAMETER_STORE",
            Self::Secret(_) => "SECRETS_MANAGER",
        }
    }
}

impl SecretsManagerReference {
    /// Parses `secret-id[:json-key[:version-stage[:version-id]]]`; a secret ARN (which holds
    /// six colons itself) may be the id. Empty parts are absent.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.chars().count() > MAX_REFERENCE_CHARS {
            return Err("the secret reference is empty or too long".to_owned());
        }
        // An ARN: arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME, then the parts.
        let (secret_id, rest) = if text.starts_with("arn:") {
            let mut cut = text.match_indices(':').map(|(i, _)| i).skip(6);
            match cut.next() {
                Some(i) => (&text[..i], Some(&text[i + 1..])),
                None => (text, None),
            }
        } else {
            match text.split_once(':') {
                Some((id, rest)) => (id, Some(rest)),
                None => (text, None),
            }
        };
        if secret_id.is_empty() {
            return Err("the secret reference names no secret".to_owned());
        }
        let mut parts = rest.unwrap_or_default().split(':');
        let mut next = || {
            parts
                .next()
                .filter(|part| !part.is_empty())
                .map(str::to_owned)
        };
        let (json_key, version_stage, version_id) = (next(), next(), next());
        if parts.next().is_some() {
            return Err(
                "the secret reference has more parts than secret-id:json-key:version-stage:version-id"
                    .to_owned(),
            );
        }
        Ok(Self {
            secret_id: secret_id.to_owned(),
            json_key,
            version_stage,
            version_id,
        })
    }
}

/// The value of `key` in the JSON object `secret`: a string as it is, another value as JSON.
/// The error never quotes the secret.
pub fn pick_json_key(secret: &str, key: &str) -> Result<String, String> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(secret)
        .map_err(|_| "the secret's value is not a JSON object".to_owned())?;
    match object.get(key) {
        Some(serde_json::Value::String(text)) => Ok(text.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err("the secret's JSON value has no such key".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (String, Option<String>, Option<String>, Option<String>) {
        let r = SecretsManagerReference::parse(text).unwrap();
        (r.secret_id, r.json_key, r.version_stage, r.version_id)
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn secrets_manager_references_as_codebuild_writes_them() {
        assert_eq!(parsed("db"), ("db".into(), None, None, None));
        assert_eq!(
            parsed("db:password::"),
            ("db".into(), some("password"), None, None)
        );
        assert_eq!(
            parsed("prod/db:password:AWSPREVIOUS"),
            (
                "prod/db".into(),
                some("password"),
                some("AWSPREVIOUS"),
                None
            )
        );
        assert_eq!(
            parsed("db:::0123-abcd"),
            ("db".into(), None, None, some("0123-abcd"))
        );
        let arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf";
        assert_eq!(parsed(arn), (arn.into(), None, None, None));
        assert_eq!(
            parsed(&format!("{arn}:user:AWSCURRENT:")),
            (arn.into(), some("user"), some("AWSCURRENT"), None)
        );
        assert!(SecretsManagerReference::parse("").is_err());
        assert!(SecretsManagerReference::parse(":key").is_err());
        assert!(SecretsManagerReference::parse("a:b:c:d:e").is_err());
    }

    #[test]
    fn variable_types_pick_the_service() {
        assert_eq!(
            SecretReference::of_variable("PARAMETER_STORE", "/a/b"),
            Some(Ok(SecretReference::Parameter {
                name: "/a/b".into()
            }))
        );
        assert!(matches!(
            SecretReference::of_variable("SECRETS_MANAGER", "id:k"),
            Some(Ok(SecretReference::Secret(_)))
        ));
        assert_eq!(SecretReference::of_variable("PLAINTEXT", "x"), None);
        assert!(
            SecretReference::of_variable("PARAMETER_STORE", "")
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn json_keys_pick_values_without_quoting_the_secret() {
        let secret = r#"{"user":"admin","port":5432,"nested":{"a":1}}"#;
        assert_eq!(pick_json_key(secret, "user").unwrap(), "admin");
        assert_eq!(pick_json_key(secret, "port").unwrap(), "5432");
        assert_eq!(pick_json_key(secret, "nested").unwrap(), r#"{"a":1}"#);
        let err = pick_json_key(secret, "missing").unwrap_err();
        assert!(!err.contains("admin"));
        let err = pick_json_key("hunter2", "k").unwrap_err();
        assert!(!err.contains("hunter2"));
    }
}
