//! SQLite's query plans: every list and lookup is an index range scan, with or without
//! statistics, on data skewed as a year of history is (one project with most of the builds).

use crate::SqliteStore;
use crate::auto_retry::OWING_AUTO_RETRY;
use crate::builds::{
    DEFAULT_BRANCH_BUILT, GET_BUILD, find_builds_sql, get_builds_sql, list_builds_sql,
};
use crate::direct::LATEST_STATUS_FOR_REF;
use crate::projects::{GET_PROJECT, PROJECT_BY_BADGE_TOKEN, list_projects_sql};
use crate::tests::record;
use kiln_domain::build::BuildStatus;
use kiln_store::{BuildFilter, ProjectSort, Store};

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

/// Every list and lookup of the API and the badge, with its number of parameters.
fn every_list_and_lookup() -> Vec<(String, usize)> {
    let mut queries = vec![
        (GET_PROJECT.to_owned(), 2),
        (PROJECT_BY_BADGE_TOKEN.to_owned(), 1),
        (GET_BUILD.to_owned(), 2),
        (get_builds_sql(100), 101),
        (LATEST_STATUS_FOR_REF.to_owned(), 5),
        (DEFAULT_BRANCH_BUILT.to_owned(), 3),
    ];
    queries.extend(every_build_listing());
    queries.extend(every_build_filter());
    for ascending in [true, false] {
        for after in [false, true] {
            for sort in [
                ProjectSort::Name,
                ProjectSort::Created,
                ProjectSort::LastModified,
            ] {
                let binds = match (after, sort) {
                    (false, _) => 2,
                    (true, ProjectSort::Name) => 3,
                    (true, _) => 4,
                };
                queries.push((list_projects_sql(sort, ascending, after), binds));
            }
        }
    }
    queries
}

/// ListBuilds and ListBuildsForProject, both orders, first and later pages.
fn every_build_listing() -> Vec<(String, usize)> {
    let mut queries = Vec::new();
    for ascending in [true, false] {
        for after in [false, true] {
            for of_project in [false, true] {
                let binds = 2 + usize::from(of_project) + usize::from(after);
                queries.push((list_builds_sql(of_project, ascending, after), binds));
            }
        }
    }
    queries
}

/// The Builds page's filters, each combination, first and later pages.
fn every_build_filter() -> Vec<(String, usize)> {
    let mut queries = Vec::new();
    for mask in 0..8 {
        let filter = BuildFilter {
            project_name: (mask & 1 != 0).then_some("p"),
            status: (mask & 2 != 0).then_some(BuildStatus::Failed),
            branch: (mask & 4 != 0).then_some("main"),
        };
        let filters = (mask as usize).count_ones() as usize;
        for after in [false, true] {
            let binds = 2 + filters + usize::from(after);
            queries.push((find_builds_sql(&filter, after), binds));
        }
    }
    queries
}

async fn assert_every_plan_is_a_range_scan(store: &SqliteStore) {
    for (sql, binds) in every_list_and_lookup() {
        let plan = query_plan(store, &sql, binds).await;
        assert!(
            plan.starts_with("SEARCH")
                && plan.contains("INDEX")
                && !plan.contains("TEMP B-TREE")
                && !plan.contains("SCAN"),
            "{sql}\n=> {plan}"
        );
        assert!(!sql.contains("json_extract"), "{sql}");
    }
    // A page of build ids reads the index alone, never the builds' rows.
    for (sql, binds) in every_build_listing() {
        let plan = query_plan(store, &sql, binds).await;
        assert!(plan.contains("USING COVERING INDEX"), "{sql}\n=> {plan}");
    }
    // The automatic-retry sweep walks its partial index, which holds only builds that owe a
    // retry, in order: however many builds there are, it reads a handful.
    let plan = query_plan(store, OWING_AUTO_RETRY, 1).await;
    assert_eq!(
        plan, "SCAN builds USING INDEX builds_owing_auto_retry",
        "{OWING_AUTO_RETRY}"
    );
}

#[tokio::test]
async fn every_list_and_lookup_is_an_index_range_scan() {
    let (_dir, store) = store_with_project("p").await;
    assert_every_plan_is_a_range_scan(&store).await;
}

/// The plans SQLite picks once `ANALYZE` has seen an account whose builds are nearly all one
/// project's (the case where it once sorted the account's builds for a small project's page).
#[tokio::test]
async fn plans_stay_range_scans_with_statistics_of_skewed_data() {
    let (_dir, store) = store_with_project("small").await;
    for name in ["big", "branches"] {
        store.create_project(&project(name, 2.0)).await.unwrap();
    }
    for other in 0..200 {
        store
            .create_project(&project(&format!("other-{other:03}"), 3.0))
            .await
            .unwrap();
    }
    // 20,000 builds of "big" on one branch, half without a source version; 50 of "small";
    // 2,000 of "branches" over 1,000 branches; 10 builds each of the 200 others.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24050)
         INSERT INTO builds (uuid, account_id, project_name, build_number, status, complete,
             ref_kind, ref_name, default_branch, source_epoch, start_time, record, seq)
         SELECT printf('uuid-%06d', i), ?,
             CASE WHEN i <= 20000 THEN 'big' WHEN i <= 20050 THEN 'small'
                  WHEN i <= 22050 THEN 'branches' ELSE printf('other-%03d', i % 200) END,
             i, 'SUCCEEDED', 1, 'branch',
             CASE WHEN i BETWEEN 20051 AND 22050 THEN printf('b-%04d', i % 1000) ELSE 'main' END,
             CASE WHEN i % 2 = 0 THEN 'main' END, 0, i, '{}', i
         FROM n",
    )
    .bind(ACCOUNT)
    .execute(&store.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&store.pool).await.unwrap();
    assert_every_plan_is_a_range_scan(&store).await;
}
