//! Parameter Store parameters and Secrets Manager secrets, as the store keeps them: every value
//! is ciphertext, encrypted above the store (docs/secrets.md), so that the database alone
//! reveals none. Each belongs to one account.

use async_trait::async_trait;

use crate::{Page, StoreResult};

/// One version of a parameter (a row of `ssm_parameters`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredParameter {
    pub account_id: String,
    pub name: String,
    /// 1 for the first version, one more for each overwrite.
    pub version: i64,
    /// `String`, `StringList` or `SecureString`.
    pub param_type: String,
    pub description: Option<String>,
    pub tier: String,
    pub data_type: String,
    pub ciphertext: Vec<u8>,
    pub last_modified: f64,
}

/// A secret, without its versions (a row of `secrets`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredSecret {
    pub account_id: String,
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub created: f64,
    pub last_changed: f64,
    /// When DeleteSecret marked it deleted (with a recovery window): it then reads as gone.
    pub deleted: Option<f64>,
}

/// One version of a secret's value.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSecretVersion {
    pub version_id: String,
    pub ciphertext: Vec<u8>,
    /// Whether the value was SecretBinary rather than SecretString.
    pub binary: bool,
    pub created: f64,
    /// The stages that point at this version, sorted (`AWSCURRENT`, `AWSPREVIOUS`, …).
    pub stages: Vec<String>,
}

/// Storage of parameters and secrets; part of [`crate::Store`].
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `parameter` as the next version of its name, returning that version (1 for a
    /// new name). `AlreadyExists` when the name exists and `overwrite` is false.
    async fn put_parameter(&self, parameter: &StoredParameter, overwrite: bool)
    -> StoreResult<i64>;
    /// A parameter of the account: `version`, or its latest.
    async fn parameter(
        &self,
        account_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<StoredParameter>>;
    /// The latest version of the account's parameters below `path` (`/` for all; `""` for every
    /// parameter, paths or not), by name, after `after`: only its direct children unless
    /// `recursive`.
    async fn list_parameters(
        &self,
        account_id: &str,
        path: &str,
        recursive: bool,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Page<StoredParameter, String>>;
    /// Deletes a parameter with every version; false when there was none.
    async fn delete_parameter(&self, account_id: &str, name: &str) -> StoreResult<bool>;

    /// Stores a new secret with its first version (if it has a value yet);
    /// `AlreadyExists` when the account has a secret of that name, deleted or not.
    async fn create_secret(
        &self,
        secret: &StoredSecret,
        first: Option<&StoredSecretVersion>,
    ) -> StoreResult<()>;
    /// A secret of the account by name or ARN, deleted or not.
    async fn secret(
        &self,
        account_id: &str,
        name_or_arn: &str,
    ) -> StoreResult<Option<StoredSecret>>;
    /// Adds a version to the secret named `name`, which takes `version.stages`: each stage
    /// moves to it from the version that had it, and the version losing `AWSCURRENT` gets
    /// `AWSPREVIOUS`. `AlreadyExists` when the version id is taken; `NotFound` when the secret
    /// is gone.
    async fn put_secret_version(
        &self,
        account_id: &str,
        name: &str,
        version: &StoredSecretVersion,
    ) -> StoreResult<()>;
    /// Every version of a secret, newest first.
    async fn secret_versions(
        &self,
        account_id: &str,
        name: &str,
    ) -> StoreResult<Vec<StoredSecretVersion>>;
    /// Marks a secret deleted at `deleted`, or, for `None`, removes it with its versions at
    /// once; false when there was none.
    async fn delete_secret(
        &self,
        account_id: &str,
        name: &str,
        deleted: Option<f64>,
    ) -> StoreResult<bool>;
    /// The account's secrets by name, after `after`; deleted ones only when
    /// `include_deleted`.
    async fn list_secrets(
        &self,
        account_id: &str,
        include_deleted: bool,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Page<StoredSecret, String>>;
}

/// A version as both backends read it: its stages aggregated into one comma-separated column.
#[derive(sqlx::FromRow)]
pub struct SecretVersionRow {
    version_id: String,
    ciphertext: Vec<u8>,
    is_binary: bool,
    created: f64,
    stages: Option<String>,
}

impl From<SecretVersionRow> for StoredSecretVersion {
    fn from(row: SecretVersionRow) -> Self {
        let mut stages: Vec<String> = row
            .stages
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        stages.sort();
        StoredSecretVersion {
            version_id: row.version_id,
            ciphertext: row.ciphertext,
            binary: row.is_binary,
            created: row.created,
            stages,
        }
    }
}
