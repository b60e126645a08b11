//! Pagination, idempotency and project deletion of the SQLite store, under concurrency.

use std::sync::Arc;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseType};
use kiln_domain::start::StartBuildInput;

use crate::tests::record;
use crate::{SqliteStore, list_builds_sql, list_projects_sql};
use kiln_store::{InsertedBuild, ProjectSort, Store};

const ACCOUNT: &str = "111111111111";

/// A project that builds from a remote git repository.
fn project(name: &str, created: f64) -> kiln_domain::project::ProjectRecord {
    let mut project = record(ACCOUNT, name, created);
    project.settings.source = serde_json::from_value(serde_json::json!(
        {"type": "GITHUB", "location": "https://git.example.com/a.git"}
    ))
    .unwrap();
    project
}

async fn store_with_project(name: &str) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("kiln.db"))
        .await
        .unwrap();
    store.create_project(&project(name, 1.0)).await.unwrap();
    (dir, store)
}

fn queued_build(project: &str, n: u64, token: Option<&str>) -> BuildRecord {
    BuildRecord {
        account_id: ACCOUNT.into(),
        project_name: project.into(),
        uuid: format!("5b2a7c0e-0000-4000-8000-{n:012}"),
        build_number: 0,
        status: BuildStatus::InProgress,
        current_phase: PhaseType::Queued,
        phases: Vec::new(),
        start_time: 100.0 + n as f64,
        end_time: None,
        initiator: "test".into(),
        settings: StartBuildInput::default()
            .resolve(&self::project(project, 1.0))
            .unwrap(),
        resolved_source_version: None,
        git_ref: None,
        source_epoch: 0,
        artifacts: None,
        secondary_artifacts: Vec::new(),
        exported_environment_variables: Vec::new(),
        idempotency_token: token.map(Into::into),
        trigger_variables: Vec::new(),
    }
}

async fn insert(store: &SqliteStore, project: &str, n: u64) -> String {
    let mut build = queued_build(project, n, None);
    store.insert_build(&mut build, 0.0).await.unwrap();
    build.id()
}

#[tokio::test]
async fn racing_start_builds_with_one_token_store_one_build() {
    let (_dir, store) = store_with_project("p").await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..24)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut build = queued_build("p", n, Some("one-token"));
                match store.insert_build(&mut build, 0.0).await.unwrap() {
                    InsertedBuild::Inserted => build.uuid,
                    InsertedBuild::Existing(existing) => existing.uuid,
                }
            })
        })
        .collect();
    let mut uuids = Vec::new();
    for task in tasks {
        uuids.push(task.await.unwrap());
    }
    uuids.dedup();
    assert_eq!(uuids.len(), 1, "one build for one token: {uuids:?}");
    let page = store
        .list_builds(ACCOUNT, None, true, None, 100)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        store
            .get_build(ACCOUNT, &uuids[0])
            .await
            .unwrap()
            .unwrap()
            .build_number,
        1,
        "refused inserts give their build number back"
    );

    // Once the window has passed, the token names a new build.
    let mut later = queued_build("p", 99, Some("one-token"));
    let since = later.start_time;
    assert_eq!(
        store.insert_build(&mut later, since).await.unwrap(),
        InsertedBuild::Inserted
    );
    assert_eq!(later.build_number, 2);
}

/// Walks every page (3 ids each) of a listing and starts a build in `p` after each page.
async fn walk_while_starting(
    store: &SqliteStore,
    project: Option<&str>,
    ascending: bool,
    next_n: &mut u64,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_builds(ACCOUNT, project, ascending, after, 3)
            .await
            .unwrap();
        seen.extend(page.items);
        insert(store, "p", *next_n).await;
        *next_n += 1;
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn pages_neither_repeat_nor_skip_while_builds_start_and_go() {
    let (_dir, store) = store_with_project("p").await;
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(insert(&store, "p", n).await);
    }
    let mut next_n = 10;
    for project in [None, Some("p")] {
        let before = store.list_builds(ACCOUNT, project, false, None, 1000).await;
        let walked = walk_while_starting(&store, project, false, &mut next_n).await;
        assert_eq!(
            walked,
            before.unwrap().items,
            "descending walk of {project:?}"
        );
    }
    // An ascending walk also sees the builds started during the walk, each once.
    let walked = walk_while_starting(&store, Some("p"), true, &mut next_n).await;
    let mut unique = walked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), walked.len(), "no id twice");
    assert_eq!(walked[..10], ids[..]);

    // Deleting the build a page ended on does not move the next page.
    let page = store
        .list_builds(ACCOUNT, None, false, None, 3)
        .await
        .unwrap();
    let last_uuid = page.items[2].split(':').nth(1).unwrap().to_string();
    assert!(store.delete_build(ACCOUNT, &last_uuid).await.unwrap());
    let all = store
        .list_builds(ACCOUNT, None, false, None, 1000)
        .await
        .unwrap();
    let rest = store
        .list_builds(ACCOUNT, None, false, page.next, 1000)
        .await
        .unwrap();
    assert_eq!(rest.items[..], all.items[2..]);

    // Nor does deleting the newest build: an ascending walk past it still sees the next one.
    let newest = store
        .list_builds(ACCOUNT, None, false, None, 1)
        .await
        .unwrap();
    let newest_uuid = newest.items[0].split(':').nth(1).unwrap().to_string();
    let key_of_newest: i64 = sqlx::query_scalar("SELECT seq FROM builds WHERE uuid = ?")
        .bind(&newest_uuid)
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(store.delete_build(ACCOUNT, &newest_uuid).await.unwrap());
    let started = insert(&store, "p", 1000).await;
    let after = store
        .list_builds(ACCOUNT, None, true, Some(key_of_newest), 10)
        .await
        .unwrap();
    assert_eq!(after.items, vec![started]);
}

#[tokio::test]
async fn deleting_a_project_stops_its_queue_and_frees_its_name() {
    let (_dir, store) = store_with_project("p").await;
    let old = insert(&store, "p", 1).await;
    let old_uuid = old.split(':').nth(1).unwrap();
    assert!(store.delete_project(ACCOUNT, "p", 500.0).await.unwrap());
    let stopped = store.get_build(ACCOUNT, old_uuid).await.unwrap().unwrap();
    assert_eq!(stopped.status, BuildStatus::Stopped);
    assert!(stopped.is_complete());
    assert!(store.incomplete_builds().await.unwrap().is_empty());

    store.create_project(&project("p", 2.0)).await.unwrap();
    let mut fresh = queued_build("p", 2, None);
    store.insert_build(&mut fresh, 0.0).await.unwrap();
    assert_eq!(fresh.build_number, 1);
    let of_project = store.list_builds(ACCOUNT, Some("p"), false, None, 10).await;
    assert_eq!(of_project.unwrap().items, vec![fresh.id()]);
    let of_account = store.list_builds(ACCOUNT, None, false, None, 10).await;
    assert_eq!(of_account.unwrap().items, vec![fresh.id(), old.clone()]);
    // A second deletion moves the new builds to a generation of their own.
    assert!(store.delete_project(ACCOUNT, "p", 600.0).await.unwrap());
    store.create_project(&project("p", 3.0)).await.unwrap();
    assert_eq!(insert_number(&store, 3).await, 1);
}

async fn insert_number(store: &SqliteStore, n: u64) -> i64 {
    let mut build = queued_build("p", n, None);
    store.insert_build(&mut build, 0.0).await.unwrap();
    build.build_number
}

async fn query_plan(store: &SqliteStore, sql: &str, binds: usize) -> String {
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    let mut query = sqlx::query(&explain);
    for _ in 0..binds {
        query = query.bind("1");
    }
    let rows = query.fetch_all(&store.pool).await.unwrap();
    rows.iter()
        .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn every_listing_is_an_index_range_scan() {
    let (_dir, store) = store_with_project("p").await;
    let mut plans = Vec::new();
    for ascending in [true, false] {
        for after in [false, true] {
            for of_project in [false, true] {
                let sql = list_builds_sql(of_project, ascending, after);
                let binds = 2 + usize::from(of_project) + usize::from(after);
                plans.push((sql.clone(), query_plan(&store, &sql, binds).await));
            }
            for sort in [
                ProjectSort::Name,
                ProjectSort::Created,
                ProjectSort::LastModified,
            ] {
                let sql = list_projects_sql(sort, ascending, after);
                let binds = match (after, sort) {
                    (false, _) => 2,
                    (true, ProjectSort::Name) => 3,
                    (true, _) => 4,
                };
                plans.push((sql.clone(), query_plan(&store, &sql, binds).await));
            }
        }
    }
    for (sql, plan) in plans {
        assert!(
            plan.starts_with("SEARCH") && plan.contains("INDEX") && !plan.contains("TEMP B-TREE"),
            "{sql}\n=> {plan}"
        );
        assert!(!sql.contains("json_extract"), "{sql}");
    }
}
