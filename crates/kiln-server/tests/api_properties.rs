//! Property tests of the API's input, per operation, through the seam every request takes after
//! SigV4: the wire protocol's decode (`X-Amz-Target` and the JSON body) and `api::dispatch`, on
//! a real store, without an HTTP server. For every operation, valid inputs mutated at the JSON
//! level (hostile values, wrong types, unknown and missing members) and at the byte level, and
//! arbitrary JSON, must be answered with success or a 4xx error of the catalogue: never a panic,
//! never a 5xx. Each property runs a fixed number of cases (failures are kept in
//! `proptest-regressions/` and replayed first); no case may take longer than
//! [`CASE_TIME_LIMIT`]. Bodies stay far below the 4 MiB the server reads.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use kiln_domain::ApiError;
use kiln_domain::badge_epoch::BadgeEpoch;
use kiln_hostile_input::{JSON_ALPHABET, config, edits, json_pointers, mutated, timed_as};
use kiln_runner::artifacts::{ArtifactStore, ArtifactStoreConfig};
use kiln_runner::disk::DiskReserve;
use kiln_runner::executor::Executor;
use kiln_runner::local_source::LocalSourcePolicies;
use kiln_scheduler::{BuildManager, BuildSettings};
use kiln_server::api::{Caller, dispatch, secrets_manager, ssm};
use kiln_server::auth::KeyRing;
use kiln_server::badges::BadgeCache;
use kiln_server::console::{ConsoleConfig, FormKey, SIGN_IN_BACKOFF};
use kiln_server::cwlogs;
use kiln_server::protocol::{AwsJson11, WireProtocol};
use kiln_server::service::Service;
use kiln_server::state::AppState;
use kiln_store_sqlite::SqliteStore;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Far above what a call needs (a few store reads and writes); a case this slow means
/// super-linear work on hostile input.
const CASE_TIME_LIMIT: Duration = Duration::from_secs(3);
const ACCOUNT: &str = "111122223333";

/// One server state for all cases (on a store in a temporary directory), with a project whose
/// name the example inputs use, so mutated calls reach past the lookups.
struct Api {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    _dir: tempfile::TempDir,
}

static API: LazyLock<Api> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    // Several properties run at once, each blocking on the runtime from its own thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let state = runtime.block_on(async {
        let store: Arc<dyn kiln_store::Store> = Arc::new(
            SqliteStore::open(&dir.path().join("kiln.db"))
                .await
                .unwrap(),
        );
        let badge_epoch = Arc::new(BadgeEpoch::default());
        let builds = BuildManager::new(
            Arc::clone(&store),
            Arc::clone(&badge_epoch),
            BuildSettings {
                data_dir: dir.path().to_path_buf(),
                instance: "api-properties".into(),
                max_concurrent_builds: 1,
                local_builds: true,
                max_concurrent_builds_per_account: None,
                lease: kiln_scheduler::DEFAULT_LEASE,
                region: "us-east-1".into(),
                public_url: "http://127.0.0.1:1".into(),
                minute: Duration::from_secs(60),
                artifact_store: Arc::new(ArtifactStore::new(ArtifactStoreConfig::Local {
                    root: dir.path().join("artifacts"),
                })),
                executor: Executor::local(),
                registry_credentials: Default::default(),
                source_hosts: Default::default(),
                max_log_bytes: 64 << 20,
                disk_reserve: DiskReserve::new(dir.path(), None),
                runtimes: Default::default(),
                max_cache_archive_bytes: kiln_runner::cache::DEFAULT_MAX_CACHE_ARCHIVE_BYTES,
                secrets_cipher: Arc::new(kiln_scheduler::secrets::Cipher::new(&[7; 32])),
                local_sources: LocalSourcePolicies::new(
                    dir.path().to_path_buf(),
                    1,
                    Default::default(),
                ),
            },
        );
        let form_key = FormKey::load(store.as_ref()).await.unwrap();
        AppState {
            store,
            region: "us-east-1".into(),
            public_url: "http://127.0.0.1:1".into(),
            keys: KeyRing::new("us-east-1", Vec::new()),
            builds,
            badge_epoch,
            badge_cache: BadgeCache::default(),
            metrics: kiln_server::metrics::Metrics::new(&kiln_scheduler::BuildMetrics::default()),
            console: ConsoleConfig {
                trust_forwarded_for: false,
                form_key,
                sign_in_backoff: SIGN_IN_BACKOFF,
            },
        }
    });
    let api = Api {
        runtime,
        state,
        _dir: dir,
    };
    let created = api.call("CreateProject", project("demo").to_string().as_bytes());
    assert!(created.is_ok(), "{created:?}");
    let created = api.call("CreateFleet", fleet("pool").to_string().as_bytes());
    assert!(created.is_ok(), "{created:?}");
    for (operation, input) in [
        (
            "AmazonSSM.PutParameter",
            json!({"Name": "/app/db", "Value": "v", "Type": "SecureString"}),
        ),
        (
            "secretsmanager.CreateSecret",
            json!({"Name": "app/db", "SecretString": "{\"k\":\"v\"}"}),
        ),
    ] {
        let created = api.call(operation, input.to_string().as_bytes());
        assert!(created.is_ok(), "{created:?}");
    }
    api
});

impl Api {
    /// Decodes and runs one call as the API handler does after authentication.
    fn call(&self, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
        // A CodeBuild operation by its name; another service's by its whole target.
        let target = if operation.contains('.') {
            operation.to_owned()
        } else {
            format!("{}{operation}", Service::CodeBuild.target_prefix())
        };
        let mut headers = HeaderMap::new();
        if let Ok(target) = HeaderValue::from_str(&target) {
            headers.insert("x-amz-target", target);
        }
        let caller = Caller {
            account_id: ACCOUNT.into(),
            access_key_id: "AKIDPROPERTIES".into(),
        };
        let call = AwsJson11.decode(&headers, body)?;
        let (state, operation, input) = (&self.state, &call.operation, call.input);
        self.runtime.block_on(async {
            match call.service {
                Service::Logs => cwlogs::dispatch(state, &caller, operation, input).await,
                Service::Ssm => ssm::dispatch(state, &caller, operation, input).await,
                Service::SecretsManager => {
                    secrets_manager::dispatch(state, &caller, operation, input).await
                }
                _ => dispatch(state, &caller, operation, input).await,
            }
        })
    }
}

fn project(name: &str) -> Value {
    json!({
        "name": name,
        "description": "d",
        "source": {"type": "GITHUB", "location": "https://github.com/o/r.git",
                   "gitCloneDepth": 1, "buildspec": "version: 0.2\nphases: {}\n",
                   "gitSubmodulesConfig": {"fetchSubmodules": false}},
        "secondarySources": [{"type": "GITHUB", "location": "https://github.com/o/lib.git",
                              "sourceIdentifier": "lib"}],
        "sourceVersion": "main",
        "secondarySourceVersions": [{"sourceIdentifier": "lib", "sourceVersion": "main"}],
        "artifacts": {"type": "S3", "location": "bucket", "packaging": "ZIP", "name": "out"},
        "secondaryArtifacts": [{"type": "NO_ARTIFACTS", "artifactIdentifier": "x"}],
        "cache": {"type": "LOCAL", "modes": ["LOCAL_SOURCE_CACHE"]},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                        "computeType": "BUILD_GENERAL1_SMALL",
                        "environmentVariables": [{"name": "A", "value": "b", "type": "PLAINTEXT"}],
                        "registryCredential": {"credential": "c", "credentialProvider": "SECRETS_MANAGER"}},
        "serviceRole": "arn:aws:iam::111122223333:role/x",
        "timeoutInMinutes": 60,
        "queuedTimeoutInMinutes": 60,
        "tags": [{"key": "k", "value": "v"}],
        "logsConfig": {"cloudWatchLogs": {"status": "DISABLED"}},
        "concurrentBuildLimit": 2,
        "badgeEnabled": true
    })
}

fn fleet(name: &str) -> Value {
    json!({
        "name": name, "baseCapacity": 2, "environmentType": "LINUX_CONTAINER",
        "computeType": "ATTRIBUTE_BASED_COMPUTE",
        "computeConfiguration": {"vCpu": 2, "memory": 4, "disk": 64, "machineType": "GENERAL"},
        "scalingConfiguration": {"scalingType": "TARGET_TRACKING_SCALING", "maxCapacity": 4,
            "targetTrackingScalingConfigs": [{"metricType": "FLEET_UTILIZATION_RATE", "targetValue": 0.5}]},
        "overflowBehavior": "QUEUE",
        "vpcConfig": {"vpcId": "vpc-1", "subnets": ["s-1"], "securityGroupIds": ["sg-1"]},
        "proxyConfiguration": {"defaultBehavior": "DENY_ALL", "orderedProxyRules":
            [{"type": "DOMAIN", "effect": "ALLOW", "entities": ["example.com"]}]},
        "imageId": "ami-1",
        "fleetServiceRole": "arn:aws:iam::111122223333:role/fleet",
        "tags": [{"key": "k", "value": "v"}]
    })
}

/// A valid input of every operation Kiln serves.
fn examples() -> Vec<(&'static str, Value)> {
    let build_id = "demo:00000000-0000-4000-8000-000000000000";
    vec![
        ("CreateProject", project("other")),
        (
            "UpdateProject",
            json!({"name": "demo", "description": "e", "timeoutInMinutes": 30,
                                 "environment": project("demo")["environment"].clone()}),
        ),
        ("DeleteProject", json!({"name": "gone"})),
        ("BatchGetProjects", json!({"names": ["demo", "gone"]})),
        (
            "ListProjects",
            json!({"sortBy": "NAME", "sortOrder": "ASCENDING", "nextToken": "bzow"}),
        ),
        ("ListCuratedEnvironmentImages", json!({})),
        (
            "UpdateProjectVisibility",
            json!({"projectArn": format!("arn:aws:codebuild:us-east-1:{ACCOUNT}:project/demo"),
                   "projectVisibility": "PUBLIC_READ",
                   "resourceAccessRole": "arn:aws:iam::111122223333:role/public"}),
        ),
        (
            "StartBuild",
            json!({"projectName": "demo", "sourceVersion": "main",
            "environmentVariablesOverride": [{"name": "A", "value": "b"}],
            "sourceLocationOverride": "https://github.com/o/r.git", "sourceTypeOverride": "GITHUB",
            "secondarySourcesOverride": [{"type": "GITHUB", "location": "https://github.com/o/l.git",
                                          "sourceIdentifier": "lib"}],
            "secondarySourcesVersionOverride": [{"sourceIdentifier": "lib", "sourceVersion": "v1"}],
            "buildspecOverride": "version: 0.2\nphases: {}\n", "timeoutInMinutesOverride": 10,
            "idempotencyToken": "t", "artifactsOverride": {"type": "NO_ARTIFACTS"},
            "imageOverride": "i", "computeTypeOverride": "BUILD_GENERAL1_SMALL"}),
        ),
        (
            "RetryBuild",
            json!({"id": build_id, "idempotencyToken": "r"}),
        ),
        ("StopBuild", json!({"id": build_id})),
        ("BatchGetBuilds", json!({"ids": [build_id]})),
        ("BatchDeleteBuilds", json!({"ids": [build_id]})),
        ("ListBuilds", json!({"sortOrder": "DESCENDING"})),
        (
            "ListBuildsForProject",
            json!({"projectName": "demo", "sortOrder": "ASCENDING"}),
        ),
        (
            "ImportSourceCredentials",
            json!({"token": "t", "serverType": "GITHUB",
            "authType": "PERSONAL_ACCESS_TOKEN", "shouldOverwrite": true, "username": "u"}),
        ),
        ("ListSourceCredentials", json!({})),
        (
            "DeleteSourceCredentials",
            json!({"arn": "arn:aws:codebuild:us-east-1:111122223333:token/github"}),
        ),
        (
            "CreateWebhook",
            json!({"projectName": "demo", "branchFilter": "^main$", "buildType": "BUILD",
            "filterGroups": [[{"type": "EVENT", "pattern": "PUSH"},
                              {"type": "HEAD_REF", "pattern": "^refs/heads/main$", "excludeMatchedPattern": false}]]}),
        ),
        (
            "UpdateWebhook",
            json!({"projectName": "demo", "rotateSecret": true,
            "filterGroups": [[{"type": "EVENT", "pattern": "PUSH"}]]}),
        ),
        ("DeleteWebhook", json!({"projectName": "demo"})),
        ("CreateFleet", fleet("other-pool")),
        (
            "UpdateFleet",
            json!({"arn": "pool", "baseCapacity": 3, "overflowBehavior": "ON_DEMAND",
                   "tags": [{"key": "k", "value": "w"}]}),
        ),
        ("DeleteFleet", json!({"arn": "gone"})),
        ("BatchGetFleets", json!({"names": ["pool", "gone"]})),
        (
            "ListFleets",
            json!({"sortBy": "CREATED_TIME", "sortOrder": "DESCENDING", "maxResults": 10}),
        ),
        (
            "AmazonSSM.PutParameter",
            json!({"Name": "/app/other", "Value": "v", "Type": "String", "Overwrite": true,
                   "Tier": "Standard", "Description": "d"}),
        ),
        (
            "AmazonSSM.GetParameter",
            json!({"Name": "/app/db:1", "WithDecryption": true}),
        ),
        (
            "AmazonSSM.GetParameters",
            json!({"Names": ["/app/db", "gone"], "WithDecryption": false}),
        ),
        (
            "AmazonSSM.GetParametersByPath",
            json!({"Path": "/app", "Recursive": true, "MaxResults": 5, "NextToken": "bzow"}),
        ),
        ("AmazonSSM.DeleteParameter", json!({"Name": "/gone"})),
        (
            "AmazonSSM.DescribeParameters",
            json!({"MaxResults": 10, "NextToken": "bzow"}),
        ),
        (
            "secretsmanager.CreateSecret",
            json!({"Name": "other", "SecretBinary": "aGk=", "Description": "d"}),
        ),
        (
            "secretsmanager.PutSecretValue",
            json!({"SecretId": "app/db", "SecretString": "x", "VersionStages": ["AWSCURRENT"],
                   "ClientRequestToken": "00000000-0000-4000-8000-000000000000"}),
        ),
        (
            "secretsmanager.GetSecretValue",
            json!({"SecretId": "app/db", "VersionStage": "AWSPREVIOUS"}),
        ),
        (
            "secretsmanager.DeleteSecret",
            json!({"SecretId": "gone", "RecoveryWindowInDays": 7}),
        ),
        (
            "secretsmanager.ListSecrets",
            json!({"MaxResults": 10, "NextToken": "bzow", "IncludePlannedDeletion": true}),
        ),
        (
            "secretsmanager.DescribeSecret",
            json!({"SecretId": "app/db"}),
        ),
        (
            "Logs_20140328.GetLogEvents",
            json!({"logGroupName": "/aws/codebuild/demo",
                   "logStreamName": "00000000-0000-4000-8000-000000000000",
                   "startFromHead": true, "limit": 10, "startTime": 0, "endTime": 1}),
        ),
        (
            "Logs_20140328.FilterLogEvents",
            json!({"logGroupName": "/aws/codebuild/demo", "filterPattern": "error exit",
                   "logStreamNames": ["x"], "limit": 5}),
        ),
        (
            "Logs_20140328.DescribeLogGroups",
            json!({"logGroupNamePrefix": "/aws/codebuild", "limit": 5}),
        ),
        (
            "Logs_20140328.DescribeLogStreams",
            json!({"logGroupName": "/aws/codebuild/demo", "orderBy": "LastEventTime",
                   "descending": true, "limit": 5}),
        ),
    ]
}

/// Runs a call and checks the answer: success, or a 4xx catalogue error; never a 5xx.
fn answered(operation: &str, body: &[u8]) -> Result<(), TestCaseError> {
    if let Err(err) = timed_as(operation, CASE_TIME_LIMIT, || API.call(operation, body))? {
        let status = err.kind.http_status();
        prop_assert!(
            (400..500).contains(&status),
            "{operation} answered {status} {}: {}",
            err.kind.type_name(),
            err.message
        );
    }
    Ok(())
}

/// Any JSON value, a few levels deep, with the scalars inputs hold and hostile ones.
fn json_value() -> impl Strategy<Value = Value> {
    // Mostly strings: most members are strings, and a string of the wrong content goes
    // furthest into an operation.
    let scalar = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        2 => Just(Value::from("")),
        4 => "\\PC{0,64}".prop_map(Value::from),
        2 => ".{0,64}".prop_map(Value::from),
        2 => "(--upload-pack=|ext::|-)[a-z ]{0,10}".prop_map(Value::from),
        1 => (1usize..200_000).prop_map(|n| Value::from("x".repeat(n))),
    ];
    scalar.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,24}", inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// What one JSON-level mutation does to the node it picks.
#[derive(Debug, Clone)]
enum Edit {
    Replace(Value),
    Remove,
    AddMember(String, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => json_value().prop_map(Edit::Replace),
        1 => Just(Edit::Remove),
        1 => ("[a-zA-Z]{1,24}", json_value()).prop_map(|(k, v)| Edit::AddMember(k, v)),
    ]
}

fn apply(doc: &mut Value, pick: usize, edit: &Edit) {
    let all = json_pointers(doc);
    let pointer = &all[pick % all.len()];
    match edit {
        Edit::Replace(value) if !pointer.is_empty() => {
            if let Some(slot) = doc.pointer_mut(pointer) {
                *slot = value.clone();
            }
        }
        Edit::Remove if !pointer.is_empty() => {
            let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            let last = last.replace("~1", "/").replace("~0", "~");
            match doc.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&last);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < items.len()
                    {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
        Edit::AddMember(key, value) => {
            if let Some(Value::Object(map)) = doc.pointer_mut(pointer) {
                map.insert(key.clone(), value.clone());
            }
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mutated_inputs_of_every_operation_get_a_4xx_at_worst(
        edits in prop::collection::vec((any::<usize>(), edit()), 1..4),
    ) {
        // The same edits, applied to every operation's input.
        for (operation, mut doc) in examples() {
            for (pick, edit) in &edits {
                apply(&mut doc, *pick, edit);
            }
            answered(operation, doc.to_string().as_bytes())?;
        }
    }

    #[test]
    fn byte_mutated_bodies_of_every_operation_get_a_4xx_at_worst(
        example in prop::sample::select(examples()),
        edits in edits(1..12),
    ) {
        let (operation, doc) = example;
        answered(operation, &mutated(doc.to_string().as_bytes(), JSON_ALPHABET, &edits))?;
    }

    #[test]
    fn arbitrary_json_for_every_operation_gets_a_4xx_at_worst(
        example in prop::sample::select(examples()),
        doc in json_value(),
    ) {
        let (operation, _) = example;
        answered(operation, doc.to_string().as_bytes())?;
    }

    #[test]
    fn arbitrary_operation_names_get_a_4xx(
        operation in prop_oneof!["[A-Za-z]{0,40}", "\\PC{0,80}"],
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        answered(&operation, &body)?;
    }
}
