//! Project cache generations (migration 0017, docs/cache.md).

use kiln_store::StoreResult;
use sqlx::PgPool;

pub(super) async fn generation(
    pool: &PgPool,
    account_id: &str,
    project_name: &str,
) -> StoreResult<i64> {
    let generation: Option<i64> = sqlx::query_scalar(
        "SELECT generation FROM project_cache_generations WHERE account_id = $1 AND project_name = $2",
    )
    .bind(account_id)
    .bind(project_name)
    .fetch_optional(pool)
    .await?;
    Ok(generation.unwrap_or(0))
}

pub(super) async fn invalidate(
    pool: &PgPool,
    account_id: &str,
    project_name: &str,
) -> StoreResult<i64> {
    // One statement: racing invalidations each move the generation on.
    let generation = sqlx::query_scalar(
        "INSERT INTO project_cache_generations (account_id, project_name, generation)
         VALUES ($1, $2, 1)
         ON CONFLICT (account_id, project_name) DO UPDATE SET generation = project_cache_generations.generation + 1
         RETURNING generation",
    )
    .bind(account_id)
    .bind(project_name)
    .fetch_one(pool)
    .await?;
    Ok(generation)
}
