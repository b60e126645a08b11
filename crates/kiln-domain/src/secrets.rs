//! Parameter Store parameters and Secrets Manager secrets: their names, limits and version
//! rules, and the references builds make to them (docs/secrets.md). Pure: the values are
//! encrypted and stored elsewhere.

mod names;
mod reference;

pub use names::{
    MAX_PARAMETER_NAME_CHARS, MAX_SECRET_NAME_CHARS, MAX_SECRET_STRING_BYTES, ParameterType,
    max_parameter_value_chars, parameter_name, parameter_path, secret_arn, secret_name,
};
pub use reference::{SecretReference, SecretsManagerReference, pick_json_key};

/// The Secrets Manager stage of a secret's current version.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The stage of the version that was current before it.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
