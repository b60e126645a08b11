//! The vault: parameter and secret values sealed before they reach the store and opened after,
//! the lookups the SSM and Secrets Manager APIs and builds share, and the resolution of a
//! build's secret references, for the local runner and for agents alike (docs/secrets.md).

mod cipher;

use std::sync::Arc;

use async_trait::async_trait;
use kiln_domain::secrets::{self, AWSCURRENT, SecretReference, SecretsManagerReference};
use kiln_runner::build::{Resolved, SecretSource};
use kiln_store::{Store, StoreError, StoredParameter, StoredSecret, StoredSecretVersion};

pub use cipher::{Cipher, CipherError, KEY_BYTES};

/// Why the vault failed: Kiln's own failure, never the caller's.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cipher(#[from] CipherError),
}

/// Why a lookup found nothing, in words for the caller (no value quoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Parameter(String),
    ParameterVersion(String),
    Secret(String),
    /// The secret is marked deleted.
    DeletedSecret(String),
    SecretVersion(String),
    /// The JSON key the reference picks is not there.
    JsonKey(String),
}

impl Missing {
    pub fn message(&self) -> &str {
        match self {
            Missing::Parameter(m)
            | Missing::ParameterVersion(m)
            | Missing::Secret(m)
            | Missing::DeletedSecret(m)
            | Missing::SecretVersion(m)
            | Missing::JsonKey(m) => m,
        }
    }
}

pub type Lookup<T> = Result<Result<T, Missing>, VaultError>;

pub struct Vault {
    store: Arc<dyn Store>,
    cipher: Arc<Cipher>,
}

impl Vault {
    pub fn new(store: Arc<dyn Store>, cipher: Arc<Cipher>) -> Self {
        Vault { store, cipher }
    }

    pub fn seal_parameter(
        &self,
        account_id: &str,
        name: &str,
        value: &str,
    ) -> Result<Vec<u8>, VaultError> {
        Ok(self
            .cipher
            .seal(&[account_id, "ssm", name], value.as_bytes())?)
    }

    pub fn open_parameter(&self, parameter: &StoredParameter) -> Result<String, VaultError> {
        let context = [parameter.account_id.as_str(), "ssm", &parameter.name];
        let plain = self.cipher.open(&context, &parameter.ciphertext)?;
        String::from_utf8(plain).map_err(|_| VaultError::Cipher(CipherError::Decrypt))
    }

    pub fn seal_secret(
        &self,
        account_id: &str,
        name: &str,
        version_id: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        Ok(self
            .cipher
            .seal(&[account_id, "secretsmanager", name, version_id], value)?)
    }

    pub fn open_secret(
        &self,
        secret: &StoredSecret,
        version: &StoredSecretVersion,
    ) -> Result<Vec<u8>, VaultError> {
        let context = [
            secret.account_id.as_str(),
            "secretsmanager",
            &secret.name,
            &version.version_id,
        ];
        Ok(self.cipher.open(&context, &version.ciphertext)?)
    }

    /// The parameter `selector` names: a name or ARN, with `:VERSION` for an older version.
    pub async fn parameter(&self, account_id: &str, selector: &str) -> Lookup<StoredParameter> {
        let (name, version) = match selector.rsplit_once(':') {
            Some((name, version))
                if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) =>
            {
                (name, version.parse::<i64>().ok())
            }
            _ => (selector, None),
        };
        let name = match secrets::parameter_name(name, account_id) {
            Ok(name) => name,
            Err(why) => return Ok(Err(Missing::Parameter(why))),
        };
        match self.store.parameter(account_id, &name, version).await? {
            Some(parameter) => Ok(Ok(parameter)),
            None if version.is_some()
                && self
                    .store
                    .parameter(account_id, &name, None)
                    .await?
                    .is_some() =>
            {
                Ok(Err(Missing::ParameterVersion(format!(
                    "Systems Manager could not find version {} of {name}.",
                    version.unwrap_or_default()
                ))))
            }
            None => Ok(Err(Missing::Parameter(format!(
                "Parameter {name} not found."
            )))),
        }
    }

    /// The secret `secret_id` (name or ARN) names, unless it is deleted.
    pub async fn live_secret(&self, account_id: &str, secret_id: &str) -> Lookup<StoredSecret> {
        match self.store.secret(account_id, secret_id).await? {
            None => Ok(Err(Missing::Secret(
                "Secrets Manager can't find the specified secret.".to_owned(),
            ))),
            Some(secret) if secret.deleted.is_some() => Ok(Err(Missing::DeletedSecret(
                "You can't perform this operation on the secret because it was marked for deletion."
                    .to_owned(),
            ))),
            Some(secret) => Ok(Ok(secret)),
        }
    }

    /// A version of a live secret: by id, by stage, or the one at `AWSCURRENT`; with both, the
    /// version must have the stage.
    pub async fn secret_version(
        &self,
        account_id: &str,
        secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Lookup<(StoredSecret, StoredSecretVersion)> {
        let secret = match self.live_secret(account_id, secret_id).await? {
            Ok(secret) => secret,
            Err(missing) => return Ok(Err(missing)),
        };
        let stage = stage.or(version_id.is_none().then_some(AWSCURRENT));
        let versions = self.store.secret_versions(account_id, &secret.name).await?;
        let found = versions.into_iter().find(|v| {
            version_id.is_none_or(|id| v.version_id == id)
                && stage.is_none_or(|stage| v.stages.iter().any(|s| s == stage))
        });
        match found {
            Some(version) => Ok(Ok((secret, version))),
            None => Ok(Err(Missing::SecretVersion(
                "Secrets Manager can't find the specified secret value for the given version or staging label."
                    .to_owned(),
            ))),
        }
    }

    /// The values `references` name for a build of `account_id`, in order, or the first that
    /// names nothing.
    pub async fn resolve(
        &self,
        account_id: &str,
        references: &[SecretReference],
    ) -> Result<Resolved, VaultError> {
        let mut values = Vec::with_capacity(references.len());
        for (index, reference) in references.iter().enumerate() {
            let value = match reference {
                SecretReference::Parameter { name } => self
                    .parameter(account_id, name)
                    .await?
                    .map(|parameter| self.open_parameter(&parameter)),
                SecretReference::Secret(secret) => self.secret_text(account_id, secret).await?,
            };
            match value {
                Ok(value) => values.push(value?),
                Err(missing) => {
                    return Ok(Resolved::Missing {
                        index,
                        why: missing.message().to_owned(),
                    });
                }
            }
        }
        Ok(Resolved::Values(values))
    }

    /// A Secrets Manager reference's text: the secret's string (binary as UTF-8, lossily), or
    /// one key of its JSON.
    async fn secret_text(
        &self,
        account_id: &str,
        reference: &SecretsManagerReference,
    ) -> Result<Result<Result<String, VaultError>, Missing>, VaultError> {
        let found = self
            .secret_version(
                account_id,
                &reference.secret_id,
                reference.version_id.as_deref(),
                reference.version_stage.as_deref(),
            )
            .await?;
        let (secret, version) = match found {
            Ok(found) => found,
            Err(missing) => return Ok(Err(missing)),
        };
        let text = match self.open_secret(&secret, &version) {
            Ok(plain) => String::from_utf8_lossy(&plain).into_owned(),
            Err(e) => return Ok(Ok(Err(e))),
        };
        Ok(match &reference.json_key {
            None => Ok(Ok(text)),
            Some(key) => secrets::pick_json_key(&text, key)
                .map(Ok)
                .map_err(Missing::JsonKey),
        })
    }
}

/// A local build's [`SecretSource`]: the vault, for the build's account.
pub(crate) struct AccountSecrets {
    pub vault: Arc<Vault>,
    pub account_id: String,
}

#[async_trait]
impl SecretSource for AccountSecrets {
    async fn resolve(&self, references: &[SecretReference]) -> Result<Resolved, String> {
        self.vault
            .resolve(&self.account_id, references)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot resolve a build's secrets");
                e.to_string()
            })
    }
}
