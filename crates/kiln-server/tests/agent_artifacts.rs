//! Artifacts through the server, end to end in one process: the agent's relay store
//! (`kiln-runner`) uploads to the real agent endpoint, which streams each object into the
//! server's (local) artifact store after checking the lease and the bucket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use kiln_domain::badge_epoch::BadgeEpoch;
use kiln_domain::project::ProjectArtifacts;
use kiln_runner::artifacts::{
    ArtifactSelection, ArtifactStore, ArtifactStoreConfig, Packaging, collect, package,
};
use kiln_runner::confined;
use kiln_runner::disk::DiskReserve;
use kiln_runner::executor::Executor;
use kiln_runner::local_source::LocalSourcePolicies;
use kiln_scheduler::{BuildManager, BuildSettings};
use kiln_server::auth::KeyRing;
use kiln_server::badges::BadgeCache;
use kiln_server::console::{ConsoleConfig, FormKey, SIGN_IN_BACKOFF};
use kiln_server::state::AppState;
use kiln_store::{AgentSession, AgentToken, Store};
use kiln_store_conformance::fixtures::{ACCOUNT, claim_request, project, queued_build};
use kiln_store_sqlite::SqliteStore;
use secrecy::SecretString;

const SECRET: &str = "kiln-agent-secret-for-tests";
const FLEET: &str = "arn:aws:codebuild:us-east-1:111111111111:fleet/linux:1";

struct Server {
    url: String,
    dir: tempfile::TempDir,
    session: AgentSession,
    /// Build 1 is the agent's (it writes to `my-bucket`); build 2 is queued, nobody's.
    held: String,
    not_held: String,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("kiln.db"))
            .await
            .unwrap(),
    );
    let token = AgentToken {
        id: "tok1".into(),
        account_id: ACCOUNT.into(),
        fleet_arn: FLEET.into(),
        fleet_name: "linux".into(),
        created: 1.0,
        revoked: None,
    };
    store
        .create_agent_token(&token, &kiln_server::agents::token_hash(SECRET))
        .await
        .unwrap();
    let session = AgentSession {
        session: "session-1".into(),
        token_id: token.id.clone(),
        account_id: ACCOUNT.into(),
        fleet_arn: FLEET.into(),
        name: "agent-1".into(),
        version: "0".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        executor: "local".into(),
        capacity: 1,
        labels: Vec::new(),
        registered: 1.0,
        last_heartbeat: 1.0,
    };
    store.register_agent(&session, 1.0).await.unwrap();
    store
        .create_project(&project(ACCOUNT, "proj", 1.0))
        .await
        .unwrap();
    let mut held = queued_build(ACCOUNT, "proj", 1, None);
    held.settings.artifacts = ProjectArtifacts {
        artifacts_type: Some("S3".into()),
        location: Some("my-bucket".into()),
        ..ProjectArtifacts::default()
    };
    store.insert_build(&mut held, 0.0).await.unwrap();
    // Claimed at the fixture's clock (the build was queued at 0), with a lease that lasts.
    let owner = session.lease_owner();
    let mut claim = claim_request(&owner, 10.0, 1);
    claim.lease_seconds = 1e12;
    let claimed = store.claim_builds(&claim).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let mut not_held = queued_build(ACCOUNT, "proj", 2, None);
    not_held.settings.artifacts = held.settings.artifacts.clone();
    store.insert_build(&mut not_held, 0.0).await.unwrap();

    let badge_epoch = Arc::new(BadgeEpoch::default());
    let builds = BuildManager::new(
        Arc::clone(&store),
        Arc::clone(&badge_epoch),
        BuildSettings {
            data_dir: dir.path().to_path_buf(),
            instance: "agent-artifacts".into(),
            max_concurrent_builds: 1,
            local_builds: false,
            max_concurrent_builds_per_account: None,
            lease: Duration::from_secs(300),
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
    let state = Arc::new(AppState {
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
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, kiln_server::router(state)).await });
    Server {
        url,
        dir,
        session,
        held: held.uuid,
        not_held: not_held.uuid,
    }
}

fn relay(server: &Server, uuid: &str) -> ArtifactStore {
    ArtifactStore::new(ArtifactStoreConfig::relay(
        &server.url,
        SecretString::from(SECRET),
        server.session.session.clone(),
        uuid,
    ))
}

/// Bytes that do not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test]
async fn an_agent_uploads_artifacts_through_the_server() {
    let server = server().await;
    let source = tempfile::tempdir().unwrap();
    let big = noise(12 * 1024 * 1024);
    std::fs::write(source.path().join("big.bin"), &big).unwrap();
    std::fs::write(source.path().join("small file.txt"), b"small").unwrap();
    let root = confined::open_ambient_dir(source.path()).unwrap();
    let files = collect(
        &root,
        &ArtifactSelection {
            files: vec!["*".into()],
            ..ArtifactSelection::default()
        },
    )
    .unwrap()
    .files;
    let loose = package(&root, &files, Packaging::None).unwrap();

    let store = relay(&server, &server.held);
    store.upload("my-bucket", "out", &loose).await.unwrap();
    let stored = server.dir.path().join("artifacts/my-bucket/out");
    assert!(std::fs::read(stored.join("big.bin")).unwrap() == big);
    assert_eq!(
        std::fs::read(stored.join("small file.txt")).unwrap(),
        b"small"
    );

    // A bucket the build does not write to.
    let err = store
        .upload("other-bucket", "out", &loose)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not write to bucket"),
        "{err}"
    );
    assert!(
        !server
            .dir
            .path()
            .join("artifacts/other-bucket/out")
            .exists()
    );

    // A build the agent does not hold, small and large objects alike.
    let err = relay(&server, &server.not_held)
        .upload("my-bucket", "theirs", &loose)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("BuildNotHeldException"), "{err}");
    assert!(
        !server
            .dir
            .path()
            .join("artifacts/my-bucket/theirs")
            .exists()
    );

    // A token Kiln never issued.
    let forged = ArtifactStore::new(ArtifactStoreConfig::relay(
        &server.url,
        SecretString::from("forged"),
        server.session.session.clone(),
        server.held.as_str(),
    ));
    let err = forged
        .upload("my-bucket", "forged", &loose)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("AgentUnauthorizedException"),
        "{err}"
    );
}
