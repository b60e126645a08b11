//! The build's variables of type PARAMETER_STORE and SECRETS_MANAGER, and the buildspec's
//! `env.parameter-store` and `env.secrets-manager`: resolved through the job's
//! [`SecretSource`] (the server's store, or the server through an agent's lease), given to the
//! commands as environment variables only, and masked in the log from then on
//! (docs/secrets.md).

use async_trait::async_trait;
use kiln_domain::secrets::SecretReference;
use serde::{Deserialize, Serialize};

use super::interrupt::Interrupt;
use super::{Run, client_error};

/// Where a build's secret values come from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The values of `references` (the build's account's), in order.
    async fn resolve(&self, references: &[SecretReference]) -> Result<Resolved, String>;
}

/// What a [`SecretSource`] found: every value, or the first reference that names nothing
/// (with why, never quoting a value). An `Err` of `resolve` is Kiln's own failure instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resolved {
    Values(Vec<String>),
    Missing { index: usize, why: String },
}

/// A source for builds that may not use secrets: every reference is missing.
pub struct NoSecrets;

#[async_trait]
impl SecretSource for NoSecrets {
    async fn resolve(&self, references: &[SecretReference]) -> Result<Resolved, String> {
        Ok(match references.is_empty() {
            true => Resolved::Values(Vec::new()),
            false => Resolved::Missing {
                index: 0,
                why: "this Kiln resolves no secrets here".to_owned(),
            },
        })
    }
}

/// A variable whose value is still to be resolved: its name, where it was set (for the log),
/// and what it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PendingVariable {
    pub name: String,
    pub origin: &'static str,
    pub reference: SecretReference,
}

impl Run<'_> {
    /// The values of `pending`, masked in the log from now on; or a CLIENT_ERROR that names
    /// the variable that cannot be resolved (never a value), or says why `pending` is not a
    /// list of references.
    pub(super) async fn resolve_secrets(
        &self,
        pending: Result<Vec<PendingVariable>, String>,
    ) -> Result<Result<Vec<(String, String)>, super::PhaseContext>, Interrupt> {
        let pending = match pending {
            Ok(pending) => pending,
            Err(message) => {
                self.log.line(&message);
                return Ok(Err(client_error(message)));
            }
        };
        if pending.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let references: Vec<SecretReference> =
            pending.iter().map(|p| p.reference.clone()).collect();
        let resolved =
            self.secrets.resolve(&references).await.map_err(|why| {
                Interrupt::Fault(format!("Cannot resolve secret variables: {why}"))
            })?;
        let values = match resolved {
            Resolved::Values(values) if values.len() == pending.len() => values,
            Resolved::Values(_) => {
                return Err(Interrupt::Fault(
                    "Cannot resolve secret variables: the answer does not match the request"
                        .to_owned(),
                ));
            }
            Resolved::Missing { index, why } => {
                let Some(variable) = pending.get(index) else {
                    return Err(Interrupt::Fault(
                        "Cannot resolve secret variables: the answer names no variable".to_owned(),
                    ));
                };
                let message = format!(
                    "Secrets Manager or Parameter Store variable {} ({}, type {}) cannot be \
                     resolved: {why}",
                    variable.name,
                    variable.origin,
                    variable.reference.variable_type()
                );
                self.log.line(&message);
                return Ok(Err(client_error(message)));
            }
        };
        self.log.mask(values.iter().cloned());
        Ok(Ok(pending
            .iter()
            .map(|p| p.name.clone())
            .zip(values)
            .collect()))
    }
}
