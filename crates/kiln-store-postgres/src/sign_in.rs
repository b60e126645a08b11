//! Console sign-in throttling and the server's generated secrets, kept in the database so that
//! every replica counts the same attempts and signs with the same key.

use sqlx::{PgPool, Row};

use kiln_store::{SignInAttempt, SignInBackoff, StoreResult};

/// The transaction-scoped advisory lock that serialises sign-in attempts across replicas (the
/// counterpart of SQLite's `BEGIN IMMEDIATE`): attempts racing each other are counted one after
/// the other, and none slips past a lockout. Sign-ins are rare, so one lock for all is enough.
/// ASCII "kiln" and 1; other advisory locks of Kiln use other low words.
const SIGN_IN_LOCK: i64 = 0x6b69_6c6e_0000_0001;

pub(super) async fn begin_attempt(
    pool: &PgPool,
    subjects: &[String],
    now: f64,
    backoff: &SignInBackoff,
) -> StoreResult<SignInAttempt> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SIGN_IN_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sign_in_throttle WHERE last_attempt < $1 AND locked_until < $2")
        .bind(now - backoff.forget_after)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let mut counted = Vec::with_capacity(subjects.len());
    let mut locked_out: Option<f64> = None;
    for subject in subjects {
        let row =
            sqlx::query("SELECT attempts, locked_until FROM sign_in_throttle WHERE subject = $1")
                .bind(subject)
                .fetch_optional(&mut *tx)
                .await?;
        let (attempts, locked_until): (i64, f64) = match row {
            Some(row) => (row.try_get("attempts")?, row.try_get("locked_until")?),
            None => (0, 0.0),
        };
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
             VALUES ($1, $2, $3, $4)
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

pub(super) async fn clear_attempts(pool: &PgPool, subjects: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM sign_in_throttle WHERE subject = ANY($1)")
        .bind(subjects)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn server_secret(
    pool: &PgPool,
    name: &str,
    candidate: &[u8],
) -> StoreResult<Vec<u8>> {
    // A racing insert of the same name waits for the first to commit, so the read sees it.
    sqlx::query(
        "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(candidate)
    .execute(pool)
    .await?;
    let value = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(value)
}
