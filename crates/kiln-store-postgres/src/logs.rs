//! Build logs in the database: contiguous pieces keyed by (uuid, start_offset), so that a read
//! at any byte offset is one index range scan, whichever replica serves it.

use sqlx::{PgPool, Postgres, QueryBuilder};

use kiln_store::{StoreError, StoreEvent, StoreResult, is_foreign_key_violation, sql_int};

use crate::feed;

/// Stores one piece, announcing LogAppended with it; a piece already at `start_offset` is
/// kept and nothing is announced.
pub(super) async fn append(
    pool: &PgPool,
    uuid: &str,
    start_offset: u64,
    data: &[u8],
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let result = sqlx::query(
        "INSERT INTO build_log_chunks (uuid, start_offset, raw_length, data)
         VALUES ($1, $2, $3, $4) ON CONFLICT (uuid, start_offset) DO NOTHING",
    )
    .bind(uuid)
    .bind(sql_int(start_offset))
    .bind(sql_int(data.len() as u64))
    .bind(kiln_store::pack_log_piece(data))
    .execute(&mut *tx)
    .await;
    let stored = match result {
        Ok(done) => done.rows_affected() > 0,
        Err(e) if is_foreign_key_violation(&e) => return Err(StoreError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if stored {
        let appended = StoreEvent::LogAppended {
            uuid: uuid.to_owned(),
        };
        feed::announce(&mut tx, &[appended]).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The pieces that hold bytes `offset..offset + max_bytes`: the last one starting at or before
/// `offset`, and those after it that start before the end.
pub(super) async fn read(
    pool: &PgPool,
    uuid: &str,
    offset: u64,
    max_bytes: usize,
) -> StoreResult<Vec<u8>> {
    let end = offset.saturating_add(u64::try_from(max_bytes).unwrap_or(u64::MAX));
    if end == offset {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT start_offset, raw_length, data FROM build_log_chunks
         WHERE uuid = $1 AND start_offset < $3 AND start_offset >= COALESCE(
             (SELECT MAX(start_offset) FROM build_log_chunks
              WHERE uuid = $1 AND start_offset <= $2),
             0)
         ORDER BY start_offset",
    )
    .bind(uuid)
    .bind(sql_int(offset))
    .bind(sql_int(end))
    .fetch_all(pool)
    .await?;
    kiln_store::read_stored_pieces(rows, offset, max_bytes)
}

/// The offset after the last stored piece.
pub(super) async fn size(pool: &PgPool, uuid: &str) -> StoreResult<u64> {
    let end: Option<i64> = sqlx::query_scalar(
        "SELECT start_offset + raw_length FROM build_log_chunks WHERE uuid = $1
         ORDER BY start_offset DESC LIMIT 1",
    )
    .bind(uuid)
    .fetch_optional(pool)
    .await?;
    Ok(end.map_or(0, |end| u64::try_from(end).unwrap_or(0)))
}

/// The stored line marks of a build's log, in block order (see `Store::log_line_marks`).
pub(super) async fn line_marks(pool: &PgPool, uuid: &str) -> StoreResult<Vec<u64>> {
    let marks: Vec<i64> = sqlx::query_scalar(
        "SELECT line_breaks FROM build_log_line_marks WHERE uuid = $1 ORDER BY block",
    )
    .bind(uuid)
    .fetch_all(pool)
    .await?;
    Ok(marks
        .into_iter()
        .map(|m| u64::try_from(m).unwrap_or(0))
        .collect())
}

/// Stores line marks from `first_block` on, keeping those already there.
pub(super) async fn add_line_marks(
    pool: &PgPool,
    uuid: &str,
    first_block: u64,
    marks: &[u64],
) -> StoreResult<()> {
    // Three parameters a row, well under PostgreSQL's limit of 65,535 a statement.
    for (batch, rows) in marks.chunks(1000).enumerate() {
        let first = first_block + (batch * 1000) as u64;
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO build_log_line_marks (uuid, block, line_breaks) ",
        );
        insert.push_values(rows.iter().enumerate(), |mut row, (i, &mark)| {
            row.push_bind(uuid)
                .push_bind(sql_int(first + i as u64))
                .push_bind(sql_int(mark));
        });
        insert.push(" ON CONFLICT (uuid, block) DO NOTHING");
        match insert.build().execute(pool).await {
            Ok(_) => {}
            Err(e) if is_foreign_key_violation(&e) => return Err(StoreError::NotFound),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
