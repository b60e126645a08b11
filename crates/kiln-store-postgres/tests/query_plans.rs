//! PostgreSQL's query plans: on a store with some history, every listing and badge lookup is an
//! index scan that sorts nothing.
#![allow(clippy::unwrap_used)] // Test code: a failed step fails the test.

mod common;

use kiln_domain::build::BuildStatus;
use kiln_store::{BuildFilter, ProjectSort};
use kiln_store_postgres::sql::{
    DEFAULT_BRANCH_BUILT, LATEST_STATUS_FOR_REF, OWING_AUTO_RETRY, find_builds_sql,
    list_builds_sql, list_projects_sql,
};
use sqlx::PgPool;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

const ACCOUNT: &str = "111111111111";

/// 2 accounts × 100 projects, and 20,000 builds over the first account's projects, analysed.
async fn fill(pool: &PgPool) {
    for sql in [
        "INSERT INTO projects (account_id, name, settings, badge_enabled, badge_token, created,
            last_modified)
         SELECT account, 'p' || n, '{}', true, account || '-' || n, n, n
         FROM generate_series(1, 100) AS n, (VALUES ('111111111111'), ('222222222222')) AS a(account)",
        "INSERT INTO builds (uuid, account_id, project_name, build_number, status, complete,
            ref_kind, ref_name, source_epoch, start_time, record, seq, default_branch)
         SELECT 'u' || n, '111111111111', 'p' || (n % 100), n, 'SUCCEEDED', true, 'branch',
            'b' || (n % 7), 0, n, '{}', n, CASE WHEN n % 3 = 0 THEN 'main' END
         FROM generate_series(1, 20000) AS n",
        "ANALYZE",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
}

async fn plan(pool: &PgPool, query: Query<'_, sqlx::Postgres, PgArguments>) -> String {
    let rows: Vec<String> = query
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| sqlx::Row::get::<String, _>(row, 0))
        .collect();
    rows.join("\n")
}

#[tokio::test]
async fn every_listing_and_lookup_is_an_index_scan_without_a_sort() {
    let database = common::TestDatabase::create().await;
    let store = database.store().await;
    let pool = store.pool();
    fill(pool).await;
    let mut plans = Vec::new();
    for ascending in [true, false] {
        for after in [false, true] {
            for of_project in [false, true] {
                let sql = format!("EXPLAIN {}", list_builds_sql(of_project, ascending, after));
                let mut query = sqlx::query(&sql).bind(ACCOUNT);
                if of_project {
                    query = query.bind("p7");
                }
                if after {
                    query = query.bind(5000_i64);
                }
                plans.push((sql.clone(), plan(pool, query.bind(11_i64)).await));
            }
            for sort in [
                ProjectSort::Name,
                ProjectSort::Created,
                ProjectSort::LastModified,
            ] {
                let sql = format!("EXPLAIN {}", list_projects_sql(sort, ascending, after));
                let mut query = sqlx::query(&sql).bind(ACCOUNT);
                match (after, sort) {
                    (false, _) => {}
                    (true, ProjectSort::Name) => query = query.bind("p50"),
                    (true, _) => query = query.bind(50.0_f64).bind("p50"),
                }
                plans.push((sql.clone(), plan(pool, query.bind(11_i64)).await));
            }
        }
    }
    // The Builds page's filters, each alone and in every combination, first and later pages.
    // One filter reads its index in order; combined ones may sort what the most selective
    // index's range holds (PostgreSQL takes builds_by_ref for a project's branch), never
    // the account's builds.
    let mut combined = Vec::new();
    for mask in 0_u32..8 {
        let filter = BuildFilter {
            project_name: (mask & 1 != 0).then_some("p7"),
            status: (mask & 2 != 0).then_some(BuildStatus::Failed),
            branch: (mask & 4 != 0).then_some("b0"),
        };
        for after in [false, true] {
            let sql = format!("EXPLAIN {}", find_builds_sql(&filter, after));
            let mut query = sqlx::query(&sql).bind(ACCOUNT);
            if let Some(name) = filter.project_name {
                query = query.bind(name);
            }
            if let Some(status) = filter.status {
                query = query.bind(status.as_str());
            }
            if let Some(branch) = filter.branch {
                query = query.bind(branch);
            }
            if after {
                query = query.bind(5000_i64);
            }
            let found = plan(pool, query.bind(11_i64)).await;
            if mask.count_ones() > 1 {
                combined.push((sql.clone(), found));
            } else {
                plans.push((sql.clone(), found));
            }
        }
    }
    for (sql, plan) in combined {
        assert!(
            plan.contains("Index Scan") && !plan.contains("Seq Scan"),
            "{sql}\n=> {plan}"
        );
    }
    let sql = format!("EXPLAIN {LATEST_STATUS_FOR_REF}");
    let query = sqlx::query(&sql)
        .bind(ACCOUNT)
        .bind("p7")
        .bind("branch")
        .bind("b0")
        .bind(0_i64);
    plans.push((sql.clone(), plan(pool, query).await));
    let sql = format!("EXPLAIN {DEFAULT_BRANCH_BUILT}");
    let query = sqlx::query(&sql).bind(ACCOUNT).bind("p7").bind(0_i64);
    plans.push((sql.clone(), plan(pool, query).await));
    // The automatic-retry sweep reads its partial index, which holds only builds owing one.
    let sql = format!("EXPLAIN {OWING_AUTO_RETRY}");
    let swept = plan(pool, sqlx::query(&sql).bind(64_i64)).await;
    assert!(
        swept.contains("builds_owing_auto_retry"),
        "{sql}\n=> {swept}"
    );
    plans.push((sql, swept));

    for (sql, plan) in plans {
        assert!(
            plan.contains("Index Scan") || plan.contains("Index Only Scan"),
            "{sql}\n=> {plan}"
        );
        assert!(
            !plan.contains("Sort") && !plan.contains("Seq Scan"),
            "{sql}\n=> {plan}"
        );
        assert!(!sql.contains("json"), "{sql}");
    }
}
