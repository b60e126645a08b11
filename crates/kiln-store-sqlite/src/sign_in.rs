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

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use kiln_store::{SignInAttempt, SignInBackoff, Store};

    const BACKOFF: SignInBackoff = SignInBackoff {
        free_attempts: 3,
        first_lockout: 10.0,
        max_lockout: 35.0,
        forget_after: 100.0,
    };

    #[test]
    fn lockouts_double_up_to_the_cap() {
        let lockouts: Vec<f64> = (1..=7).map(|n| BACKOFF.lockout_after(n)).collect();
        assert_eq!(lockouts, [0.0, 0.0, 10.0, 20.0, 35.0, 35.0, 35.0]);
        assert_eq!(BACKOFF.lockout_after(u32::MAX), 35.0);
    }

    #[tokio::test]
    async fn attempts_lock_out_every_subject_and_a_success_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kiln.db"))
            .await
            .unwrap();
        let pair = |key: &str| vec!["address:10.0.0.1".to_string(), format!("key:{key}")];
        let attempt = |subjects: Vec<String>, now: f64| {
            let store = &store;
            async move {
                store
                    .begin_sign_in_attempt(&subjects, now, &BACKOFF)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            attempt(pair("A"), 0.0).await,
            SignInAttempt::Counted { locked_until: 0.0 }
        );
        assert_eq!(
            attempt(pair("B"), 1.0).await,
            SignInAttempt::Counted { locked_until: 1.0 }
        );
        // The address's third attempt locks it out, whichever key comes next.
        assert_eq!(
            attempt(pair("C"), 2.0).await,
            SignInAttempt::Counted { locked_until: 12.0 }
        );
        assert_eq!(
            attempt(pair("A"), 5.0).await,
            SignInAttempt::LockedOut { until: 12.0 }
        );
        // Refused attempts are not counted: the next lockout is the second one.
        assert_eq!(
            attempt(pair("A"), 12.5).await,
            SignInAttempt::Counted { locked_until: 32.5 }
        );
        // Another address is held back by the key alone, which has had two attempts.
        let elsewhere = vec!["address:10.0.0.2".to_string(), "key:A".to_string()];
        assert_eq!(
            attempt(elsewhere.clone(), 13.0).await,
            SignInAttempt::Counted { locked_until: 23.0 }
        );
        store.clear_sign_in_attempts(&elsewhere).await.unwrap();
        assert_eq!(
            attempt(elsewhere, 14.0).await,
            SignInAttempt::Counted { locked_until: 14.0 }
        );
        // Quiet subjects are forgotten.
        assert_eq!(
            attempt(pair("D"), 200.0).await,
            SignInAttempt::Counted {
                locked_until: 200.0
            }
        );
    }

    #[tokio::test]
    async fn racing_attempts_are_all_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            SqliteStore::open(&dir.path().join("kiln.db"))
                .await
                .unwrap(),
        );
        let subjects = vec!["key:K".to_string()];
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, subjects) = (store.clone(), subjects.clone());
                tokio::spawn(async move {
                    store
                        .begin_sign_in_attempt(&subjects, 50.0, &BACKOFF)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut counted = 0;
        for task in tasks {
            if matches!(task.await.unwrap(), SignInAttempt::Counted { .. }) {
                counted += 1;
            }
        }
        assert_eq!(counted, BACKOFF.free_attempts);
    }

    #[tokio::test]
    async fn the_first_secret_stays() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kiln.db"))
            .await
            .unwrap();
        assert_eq!(store.server_secret("csrf", b"one").await.unwrap(), b"one");
        assert_eq!(store.server_secret("csrf", b"two").await.unwrap(), b"one");
        assert_eq!(store.server_secret("other", b"two").await.unwrap(), b"two");
    }
}
