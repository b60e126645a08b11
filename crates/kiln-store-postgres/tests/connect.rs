//! Connecting: replicas that start together migrate the database once, and a database that
//! cannot be reached is reported as unavailable.
#![allow(clippy::unwrap_used)] // Test code: a failed step fails the test.

mod common;

use kiln_store::Store;
use kiln_store_conformance::fixtures::{ACCOUNT, project};
use kiln_store_postgres::PgStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_share_one_migrated_database() {
    let database = common::TestDatabase::create().await;
    let connecting: Vec<_> = (0..8)
        .map(|_| {
            let url = database.url.clone();
            tokio::spawn(async move { PgStore::connect(&url).await })
        })
        .collect();
    let mut replicas = Vec::new();
    for replica in connecting {
        replicas.push(replica.await.unwrap().expect("every replica connects"));
    }
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(replicas[0].pool())
        .await
        .unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    assert_eq!(applied, i64::try_from(files).unwrap());
    // What one replica writes, every other reads.
    replicas[3]
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    for replica in &replicas {
        assert!(replica.get_project(ACCOUNT, "p").await.unwrap().is_some());
    }
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    // Port 1 on loopback: nothing listens there.
    let err = PgStore::connect("postgres://kiln@127.0.0.1:1/kiln")
        .await
        .err()
        .expect("no server to connect to");
    assert!(err.is_unavailable(), "{err}");
}
