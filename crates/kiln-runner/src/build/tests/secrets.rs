//! Secret variables: resolved through the job's source, given to commands, masked in the log.

use super::*;
use kiln_domain::secrets::SecretReference;

/// Resolves parameters from a fixed table; anything else is missing.
struct Table(Vec<(&'static str, &'static str)>);

#[async_trait]
impl SecretSource for Table {
    async fn resolve(&self, references: &[SecretReference]) -> Result<Resolved, String> {
        let mut values = Vec::new();
        for (index, reference) in references.iter().enumerate() {
            let key = match reference {
                SecretReference::Parameter { name } => name.clone(),
                SecretReference::Secret(secret) => secret.secret_id.clone(),
            };
            match self.0.iter().find(|(k, _)| *k == key) {
                Some((_, value)) => values.push((*value).to_owned()),
                None => {
                    return Ok(Resolved::Missing {
                        index,
                        why: "not found".to_owned(),
                    });
                }
            }
        }
        Ok(Resolved::Values(values))
    }
}

#[tokio::test]
async fn resolved_values_reach_commands_and_are_masked_in_the_log() {
    let mut harness = Harness::new(Some(
        "version: 0.2\nenv:\n  exported-variables:\n    - FROM_SPEC\n  parameter-store:\n    FROM_SPEC: /spec/param\n\
         phases:\n  build:\n    commands:\n      - echo \"spec=$FROM_SPEC project=$FROM_PROJECT\"\n      - printf '%s' \"$FROM_PROJECT\" | wc -c\n",
    ));
    harness.secrets = Arc::new(Table(vec![
        ("/spec/param", "spec-secret-1"),
        ("proj", "project-secret-22"),
    ]));
    harness.settings.environment.environment_variables = Some(vec![EnvironmentVariable {
        name: Some("FROM_PROJECT".to_owned()),
        value: Some("proj".to_owned()),
        var_type: Some("SECRETS_MANAGER".to_owned()),
    }]);
    let done = harness.run().await;
    assert_eq!(done.record.status, BuildStatus::Succeeded, "{}", done.log);
    assert!(done.log.contains("spec=*** project=***\n"), "{}", done.log);
    // The command saw the whole value (17 bytes).
    assert!(done.log.contains("17\n"), "{}", done.log);
    assert!(!done.log.contains("spec-secret-1"));
    assert!(!done.log.contains("project-secret-22"));
    let exported = &done.record.exported_environment_variables;
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].value, "***", "an exported secret is masked");
}

#[tokio::test]
async fn a_missing_project_variable_fails_provisioning_by_name() {
    let mut harness = Harness::new(Some(&spec("  build:\n    commands:\n      - echo hi\n")));
    harness.settings.environment.environment_variables = Some(vec![EnvironmentVariable {
        name: Some("DB_PASSWORD".to_owned()),
        value: Some("/prod/db/password".to_owned()),
        var_type: Some("PARAMETER_STORE".to_owned()),
    }]);
    let done = harness.run().await;
    assert_eq!(
        done.phase_types(),
        [Submitted, Queued, Provisioning, Completed]
    );
    let context = done.context_of(Provisioning);
    assert_eq!(context.status_code, "CLIENT_ERROR");
    assert!(
        context.message.contains("DB_PASSWORD"),
        "{}",
        context.message
    );
    assert!(done.log.contains("DB_PASSWORD"));
    assert_eq!(done.record.status, BuildStatus::Failed);
}
