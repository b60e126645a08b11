//! A fresh PostgreSQL database per test, in the cluster that `scripts/test.sh` starts.
#![allow(dead_code)] // Each test target uses a part of it.

use std::sync::Arc;

use kiln_store::Store;
use kiln_store_postgres::PgStore;
use sqlx::{Connection, PgConnection};

/// A test's own database, dropped when the test ends (the cluster is thrown away anyway).
pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

/// The admin URL of the test cluster; a test without one fails, never skips.
fn admin_url() -> String {
    std::env::var("KILN_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "KILN_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts \
             a throwaway PostgreSQL cluster (or `eval \"$(scripts/postgres-cluster.sh start)\"`)"
        )
    })
}

/// `url` with its database (the path) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut url = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        url = format!("{url}?{query}");
    }
    url
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin_url = admin_url();
        let name = format!("kiln_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to the test cluster");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        let url = with_database(&admin_url, &name);
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }

    pub async fn store(&self) -> PgStore {
        PgStore::connect(&self.url)
            .await
            .expect("connect the store")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop is not async: a thread of its own runs the statement to completion.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// A fresh store on a database of its own, for the conformance suite.
pub async fn open() -> (TestDatabase, Arc<dyn Store>) {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    (database, Arc::new(store))
}
