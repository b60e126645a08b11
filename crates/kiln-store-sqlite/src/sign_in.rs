//! Console sign-in throttling and the server's generated secrets, kept in the database so that
//! every replica counts the same attempts and signs with the same key.

use sqlx::{Row, SqlitePool};

use kiln_store::{SignInAttempt, SignInBackoff, StoreResult};

pub(super) async fn begin_attempt(
    pool: &SqlitePool,
    subjects: &[String],
    now: f64,
    backoff: &SignInBackoff,
) -> StoreResult<SignInAttempt> {
    // The write lock is taken before anything is read, so attempts racing each other (in any
    // process) are counted one after the other and none slips past a lockout.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query("DELETE FROM sign_in_throttle WHERE last_attempt < ? AND locked_until < ?")
        .bind(now - backoff.forget_after)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let mut counted = Vec::with_capacity(subjects.len());
    let mut locked_out: Option<f64> = None;
    for subject in subjects {
        let row =
            sqlx::query("SELECT attempts, locked_until FROM sign_in_throttle WHERE subject = ?")
                .bind(subject)
                .fetch_optional(&mut *tx)
                .await?;
        let (attempts, locked_until): (i64, f64) =
            row.map_or((0, 0.0), |r| (r.get("attempts"), r.get("locked_until")));
        if locked_until > now {
            locked_out = Some(locked_out.map_or(locked_until, |l| l.max(locked_until)));
        }
        counted.push(u32::try_from(attempts).unwrap_or(u32::MAX));
    }
    if let Some(until) = locked_out {
        tx.commit().await?;
        return Ok(SignInAttempt::LockedOut { until });
    }
    let mut locked_until = now;
    for (subject, before) in subjects.iter().zip(counted) {
        let attempts = before.saturating_add(1);
        let until = now + backoff.lockout_after(attempts);
        sqlx::query(
            "INSERT INTO sign_in_throttle (subject, attempts, last_attempt, locked_until)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (subject) DO UPDATE SET attempts = excluded.attempts,
                last_attempt = excluded.last_attempt, locked_until = excluded.locked_until",
        )
        .bind(subject)
        .bind(i64::from(attempts))
        .bind(now)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        locked_until = locked_until.max(until);
    }
    tx.commit().await?;
    Ok(SignInAttempt::Counted { locked_until })
}

pub(super) async fn clear_attempts(pool: &SqlitePool, subjects: &[String]) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    for subject in subjects {
        sqlx::query("DELETE FROM sign_in_throttle WHERE subject = ?")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn server_secret(
    pool: &SqlitePool,
    name: &str,
    candidate: &[u8],
) -> StoreResult<Vec<u8>> {
    sqlx::query(
        "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(candidate)
    .execute(pool)
    .await?;
    let row = sqlx::query("SELECT value FROM server_secrets WHERE name = ?")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(row.get("value"))
}
