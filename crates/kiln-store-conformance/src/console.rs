//! The web console's sessions, its sign-in throttle and the server's shared secrets.

use std::sync::Arc;

use kiln_store::{ConsoleSession, SignInAttempt, SignInBackoff, Store, StoreError};

const BACKOFF: SignInBackoff = SignInBackoff {
    free_attempts: 3,
    first_lockout: 10.0,
    max_lockout: 35.0,
    forget_after: 100.0,
};

fn session(hash: &str, expires: f64) -> ConsoleSession {
    ConsoleSession {
        token_hash: hash.into(),
        account_id: "111122223333".into(),
        access_key_id: "AKID".into(),
        csrf_token: "csrf".into(),
        created: 0.0,
        expires,
    }
}

pub async fn console_sessions_expire_and_end(store: Arc<dyn Store>) {
    store
        .create_console_session(&session("old", 10.0), 0.0)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_console_session(&session("old", 10.0), 0.0)
            .await,
        Err(StoreError::AlreadyExists)
    ));
    store
        .create_console_session(&session("new", 100.0), 50.0)
        .await
        .unwrap();
    assert_eq!(
        store.console_session("new", 60.0).await.unwrap(),
        Some(session("new", 100.0))
    );
    assert_eq!(store.console_session("new", 101.0).await.unwrap(), None);
    // Expired sessions are purged by the next sign-in.
    assert!(!store.delete_console_session("old").await.unwrap());
    assert!(store.delete_console_session("new").await.unwrap());
    assert_eq!(store.console_session("new", 60.0).await.unwrap(), None);
}

pub async fn sign_in_attempts_lock_out_every_subject_and_a_success_clears_them(
    store: Arc<dyn Store>,
) {
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

pub async fn racing_sign_in_attempts_are_all_counted(store: Arc<dyn Store>) {
    let subjects = vec!["key:K".to_string()];
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, subjects) = (Arc::clone(&store), subjects.clone());
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

pub async fn the_first_server_secret_stays(store: Arc<dyn Store>) {
    assert_eq!(store.server_secret("csrf", b"one").await.unwrap(), b"one");
    assert_eq!(store.server_secret("csrf", b"two").await.unwrap(), b"one");
    assert_eq!(store.server_secret("other", b"two").await.unwrap(), b"two");
    // Replicas starting together agree on one secret.
    let tasks: Vec<_> = (0..8u8)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.server_secret("raced", &[n]).await.unwrap() })
        })
        .collect();
    let mut secrets = Vec::new();
    for task in tasks {
        secrets.push(task.await.unwrap());
    }
    secrets.dedup();
    assert_eq!(secrets.len(), 1, "{secrets:?}");
}
