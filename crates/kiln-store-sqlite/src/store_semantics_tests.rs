//! SQLite's query plans: every listing is an index range scan.

use crate::tests::record;
use crate::{SqliteStore, list_builds_sql, list_projects_sql};
use kiln_store::{ProjectSort, Store};

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
