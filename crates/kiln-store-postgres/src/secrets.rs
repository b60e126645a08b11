//! Parameters and secrets (ciphertext only, see kiln_store::secrets), as SQLite's. Writes that
//! read first lock what they read (the secret's row; for a parameter, a transaction-scoped
//! advisory lock on its name), so versions and stages never race between replicas.

use async_trait::async_trait;
use kiln_store::secrets::{SecretStore, SecretVersionRow};
use kiln_store::{
    Page, StoreError, StoreResult, StoredParameter, StoredSecret, StoredSecretVersion,
    is_unique_violation, sql_int,
};
use sqlx::{Postgres, QueryBuilder};

use crate::PgStore;

async fn insert_version(
    tx: &mut sqlx::PgConnection,
    account_id: &str,
    name: &str,
    version: &StoredSecretVersion,
) -> StoreResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO secret_versions (account_id, name, version_id, position, ciphertext,
            is_binary, created)
         SELECT $1, $2, $3, COALESCE(MAX(position), 0) + 1, $4, $5, $6
         FROM secret_versions WHERE account_id = $7 AND name = $8",
    )
    .bind(account_id)
    .bind(name)
    .bind(&version.version_id)
    .bind(&version.ciphertext)
    .bind(version.binary)
    .bind(version.created)
    .bind(account_id)
    .bind(name)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
        other => other?,
    };
    for stage in &version.stages {
        if stage == kiln_domain::secrets::AWSCURRENT {
            sqlx::query(
                "INSERT INTO secret_version_stages (account_id, name, stage, version_id)
                 SELECT account_id, name, $1, version_id FROM secret_version_stages
                 WHERE account_id = $2 AND name = $3 AND stage = $4
                 ON CONFLICT (account_id, name, stage) DO UPDATE SET version_id = excluded.version_id",
            )
            .bind(kiln_domain::secrets::AWSPREVIOUS)
            .bind(account_id)
            .bind(name)
            .bind(stage)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO secret_version_stages (account_id, name, stage, version_id)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, name, stage) DO UPDATE SET version_id = excluded.version_id",
        )
        .bind(account_id)
        .bind(name)
        .bind(stage)
        .bind(&version.version_id)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE secrets SET last_changed = $1 WHERE account_id = $2 AND name = $3")
        .bind(version.created)
        .bind(account_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[async_trait]
impl SecretStore for PgStore {
    async fn put_parameter(&self, p: &StoredParameter, overwrite: bool) -> StoreResult<i64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("ssm_parameters\n{}\n{}", p.account_id, p.name))
            .execute(&mut *tx)
            .await?;
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM ssm_parameters WHERE account_id = $1 AND name = $2",
        )
        .bind(&p.account_id)
        .bind(&p.name)
        .fetch_one(&mut *tx)
        .await?;
        if latest.is_some() && !overwrite {
            return Err(StoreError::AlreadyExists);
        }
        let version = latest.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO ssm_parameters (account_id, name, version, param_type, description,
                tier, data_type, ciphertext, last_modified)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&p.account_id)
        .bind(&p.name)
        .bind(version)
        .bind(&p.param_type)
        .bind(&p.description)
        .bind(&p.tier)
        .bind(&p.data_type)
        .bind(&p.ciphertext)
        .bind(p.last_modified)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn parameter(
        &self,
        account_id: &str,
        name: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<StoredParameter>> {
        let parameter = sqlx::query_as::<_, StoredParameter>(
            "SELECT * FROM ssm_parameters WHERE account_id = $1 AND name = $2
               AND ($3::BIGINT IS NULL OR version = $4)
             ORDER BY version DESC LIMIT 1",
        )
        .bind(account_id)
        .bind(name)
        .bind(version)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(parameter)
    }

    async fn list_parameters(
        &self,
        account_id: &str,
        path: &str,
        recursive: bool,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Page<StoredParameter, String>> {
        // Below `/a` is `/a/…`; below `/` every path; `""` is every parameter.
        let prefix = match path {
            "" => String::new(),
            "/" => "/".to_owned(),
            path => format!("{path}/"),
        };
        let mut q =
            QueryBuilder::<Postgres>::new("SELECT p.* FROM ssm_parameters p WHERE p.account_id = ");
        q.push_bind(account_id)
            .push(" AND p.version = (SELECT MAX(version) FROM ssm_parameters l")
            .push(" WHERE l.account_id = p.account_id AND l.name = p.name)")
            .push(" AND starts_with(p.name, ")
            .push_bind(prefix.clone())
            .push(")");
        if !recursive {
            q.push(" AND strpos(substr(p.name, length(")
                .push_bind(prefix)
                .push(") + 1), '/') = 0");
        }
        if let Some(after) = after {
            q.push(" AND p.name > ").push_bind(after.to_owned());
        }
        q.push(" ORDER BY p.name LIMIT ")
            .push_bind(sql_int(limit + 1));
        let rows: Vec<StoredParameter> = q.build_query_as().fetch_all(&self.pool).await?;
        Ok(Page::from_overfetched(rows, limit, Clone::clone, |p| {
            p.name.clone()
        }))
    }

    async fn delete_parameter(&self, account_id: &str, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM ssm_parameters WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_secret(
        &self,
        secret: &StoredSecret,
        first: Option<&StoredSecretVersion>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO secrets (account_id, name, arn, description, created, last_changed,
                deleted)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&secret.account_id)
        .bind(&secret.name)
        .bind(&secret.arn)
        .bind(&secret.description)
        .bind(secret.created)
        .bind(secret.last_changed)
        .bind(secret.deleted)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::AlreadyExists),
            other => other?,
        };
        if let Some(version) = first {
            insert_version(&mut tx, &secret.account_id, &secret.name, version).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn secret(
        &self,
        account_id: &str,
        name_or_arn: &str,
    ) -> StoreResult<Option<StoredSecret>> {
        let secret = sqlx::query_as::<_, StoredSecret>(
            "SELECT * FROM secrets WHERE account_id = $1 AND (name = $2 OR arn = $3)",
        )
        .bind(account_id)
        .bind(name_or_arn)
        .bind(name_or_arn)
        .fetch_optional(&self.pool)
        .await?;
        Ok(secret)
    }

    async fn put_secret_version(
        &self,
        account_id: &str,
        name: &str,
        version: &StoredSecretVersion,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let exists: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM secrets WHERE account_id = $1 AND name = $2 AND deleted IS NULL
             FOR UPDATE",
        )
        .bind(account_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        insert_version(&mut tx, account_id, name, version).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn secret_versions(
        &self,
        account_id: &str,
        name: &str,
    ) -> StoreResult<Vec<StoredSecretVersion>> {
        let rows = sqlx::query_as::<_, SecretVersionRow>(
            "SELECT v.version_id, v.ciphertext, v.is_binary, v.created,
                (SELECT string_agg(s.stage, ',') FROM secret_version_stages s
                 WHERE s.account_id = v.account_id AND s.name = v.name
                   AND s.version_id = v.version_id) AS stages
             FROM secret_versions v WHERE v.account_id = $1 AND v.name = $2
             ORDER BY v.position DESC",
        )
        .bind(account_id)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(StoredSecretVersion::from).collect())
    }

    async fn delete_secret(
        &self,
        account_id: &str,
        name: &str,
        deleted: Option<f64>,
    ) -> StoreResult<bool> {
        let done = match deleted {
            Some(at) => {
                sqlx::query("UPDATE secrets SET deleted = $1 WHERE account_id = $2 AND name = $3")
                    .bind(at)
                    .bind(account_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM secrets WHERE account_id = $1 AND name = $2")
                    .bind(account_id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(done.rows_affected() > 0)
    }

    async fn list_secrets(
        &self,
        account_id: &str,
        include_deleted: bool,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Page<StoredSecret, String>> {
        let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM secrets WHERE account_id = ");
        q.push_bind(account_id);
        if !include_deleted {
            q.push(" AND deleted IS NULL");
        }
        if let Some(after) = after {
            q.push(" AND name > ").push_bind(after.to_owned());
        }
        q.push(" ORDER BY name LIMIT ")
            .push_bind(sql_int(limit + 1));
        let rows: Vec<StoredSecret> = q.build_query_as().fetch_all(&self.pool).await?;
        Ok(Page::from_overfetched(rows, limit, Clone::clone, |s| {
            s.name.clone()
        }))
    }
}
