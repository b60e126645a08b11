//! Parameters and secrets: versions, stages, listings, deletion, each within its account.

use std::sync::Arc;

use kiln_store::{Store, StoreError, StoredParameter, StoredSecret, StoredSecretVersion};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT};

fn parameter(account: &str, name: &str, value: &[u8], at: f64) -> StoredParameter {
    StoredParameter {
        account_id: account.into(),
        name: name.into(),
        version: 0,
        param_type: "SecureString".into(),
        description: Some("d".into()),
        tier: "Standard".into(),
        data_type: "text".into(),
        ciphertext: value.to_vec(),
        last_modified: at,
    }
}

fn secret(account: &str, name: &str) -> StoredSecret {
    StoredSecret {
        account_id: account.into(),
        name: name.into(),
        arn: format!("arn:aws:secretsmanager:us-east-1:{account}:secret:{name}-AbCdEf"),
        description: None,
        created: 1.0,
        last_changed: 1.0,
        deleted: None,
    }
}

fn version(id: &str, value: &[u8], at: f64) -> StoredSecretVersion {
    StoredSecretVersion {
        version_id: id.into(),
        ciphertext: value.to_vec(),
        binary: false,
        created: at,
        stages: vec!["AWSCURRENT".into()],
    }
}

pub async fn parameters_keep_versions_and_stay_in_their_account(store: Arc<dyn Store>) {
    let first = parameter(ACCOUNT, "/app/db", b"one", 1.0);
    assert_eq!(store.put_parameter(&first, false).await.unwrap(), 1);
    assert!(matches!(
        store.put_parameter(&first, false).await,
        Err(StoreError::AlreadyExists)
    ));
    let second = parameter(ACCOUNT, "/app/db", b"two", 2.0);
    assert_eq!(store.put_parameter(&second, true).await.unwrap(), 2);
    assert_eq!(
        store
            .put_parameter(&parameter(OTHER_ACCOUNT, "/app/db", b"x", 3.0), false)
            .await
            .unwrap(),
        1,
        "each account numbers its own versions"
    );

    let latest = store
        .parameter(ACCOUNT, "/app/db", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (latest.version, latest.ciphertext.as_slice()),
        (2, &b"two"[..])
    );
    assert_eq!(latest.description.as_deref(), Some("d"));
    let old = store
        .parameter(ACCOUNT, "/app/db", Some(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.ciphertext, b"one");
    assert_eq!(
        store.parameter(ACCOUNT, "/app/db", Some(3)).await.unwrap(),
        None
    );
    assert_eq!(
        store.parameter(ACCOUNT, "/other", None).await.unwrap(),
        None
    );

    assert!(store.delete_parameter(ACCOUNT, "/app/db").await.unwrap());
    assert!(!store.delete_parameter(ACCOUNT, "/app/db").await.unwrap());
    assert_eq!(
        store.parameter(ACCOUNT, "/app/db", Some(1)).await.unwrap(),
        None
    );
    assert!(
        store
            .parameter(OTHER_ACCOUNT, "/app/db", None)
            .await
            .unwrap()
            .is_some(),
        "deleting one account's parameter leaves the other's"
    );
}

pub async fn parameter_listings_follow_paths_and_page(store: Arc<dyn Store>) {
    for (i, name) in ["/a/x", "/a/y", "/a/b/z", "/ab", "top"].iter().enumerate() {
        let p = parameter(ACCOUNT, name, b"v", i as f64);
        store.put_parameter(&p, false).await.unwrap();
        store.put_parameter(&p, true).await.unwrap();
    }
    store
        .put_parameter(&parameter(OTHER_ACCOUNT, "/a/other", b"v", 1.0), false)
        .await
        .unwrap();
    let names = |page: &kiln_store::Page<StoredParameter, String>| {
        page.items
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    let direct = store
        .list_parameters(ACCOUNT, "/a", false, None, 10)
        .await
        .unwrap();
    assert_eq!(names(&direct), ["/a/x", "/a/y"]);
    assert!(
        direct.items.iter().all(|p| p.version == 2),
        "latest versions only"
    );
    let all = store
        .list_parameters(ACCOUNT, "/a", true, None, 10)
        .await
        .unwrap();
    assert_eq!(names(&all), ["/a/b/z", "/a/x", "/a/y"]);
    let root = store
        .list_parameters(ACCOUNT, "/", false, None, 10)
        .await
        .unwrap();
    assert_eq!(names(&root), ["/ab"]);
    let first = store
        .list_parameters(ACCOUNT, "", true, None, 3)
        .await
        .unwrap();
    assert_eq!(names(&first), ["/a/b/z", "/a/x", "/a/y"]);
    let next = first.next.clone().unwrap();
    let rest = store
        .list_parameters(ACCOUNT, "", true, Some(&next), 3)
        .await
        .unwrap();
    assert_eq!(names(&rest), ["/ab", "top"]);
    assert_eq!(rest.next, None);
}

pub async fn secret_versions_move_their_stages(store: Arc<dyn Store>) {
    let s = secret(ACCOUNT, "db");
    store
        .create_secret(&s, Some(&version("v1", b"one", 1.0)))
        .await
        .unwrap();
    assert!(matches!(
        store.create_secret(&s, None).await,
        Err(StoreError::AlreadyExists)
    ));
    store
        .create_secret(&secret(OTHER_ACCOUNT, "db"), None)
        .await
        .unwrap();
    store
        .put_secret_version(ACCOUNT, "db", &version("v2", b"two", 2.0))
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_secret_version(ACCOUNT, "db", &version("v2", b"again", 3.0))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    store
        .put_secret_version(ACCOUNT, "db", &version("v3", b"three", 3.0))
        .await
        .unwrap();
    let versions = store.secret_versions(ACCOUNT, "db").await.unwrap();
    let summary: Vec<_> = versions
        .iter()
        .map(|v| {
            (
                v.version_id.as_str(),
                v.ciphertext.as_slice(),
                v.stages.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("v3", &b"three"[..], vec!["AWSCURRENT".to_owned()]),
            ("v2", &b"two"[..], vec!["AWSPREVIOUS".to_owned()]),
            ("v1", &b"one"[..], vec![]),
        ]
    );
    assert!(
        store
            .secret_versions(OTHER_ACCOUNT, "db")
            .await
            .unwrap()
            .is_empty()
    );
    let read = store.secret(ACCOUNT, &s.arn).await.unwrap().unwrap();
    assert_eq!((read.name.as_str(), read.last_changed), ("db", 3.0));
    assert_eq!(store.secret(OTHER_ACCOUNT, &s.arn).await.unwrap(), None);
}

pub async fn deleted_secrets_are_marked_or_gone(store: Arc<dyn Store>) {
    for name in ["a", "b", "c"] {
        store
            .create_secret(&secret(ACCOUNT, name), Some(&version("v", b"x", 1.0)))
            .await
            .unwrap();
    }
    store
        .create_secret(&secret(OTHER_ACCOUNT, "z"), None)
        .await
        .unwrap();
    assert!(store.delete_secret(ACCOUNT, "a", Some(5.0)).await.unwrap());
    assert_eq!(
        store.secret(ACCOUNT, "a").await.unwrap().unwrap().deleted,
        Some(5.0)
    );
    assert!(matches!(
        store
            .put_secret_version(ACCOUNT, "a", &version("w", b"y", 2.0))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store.delete_secret(ACCOUNT, "b", None).await.unwrap());
    assert_eq!(store.secret(ACCOUNT, "b").await.unwrap(), None);
    assert!(
        store
            .secret_versions(ACCOUNT, "b")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.delete_secret(ACCOUNT, "b", None).await.unwrap());

    let names = |page: kiln_store::Page<StoredSecret, String>| {
        page.items.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    let live = store.list_secrets(ACCOUNT, false, None, 10).await.unwrap();
    assert_eq!(names(live), ["c"]);
    let first = store.list_secrets(ACCOUNT, true, None, 1).await.unwrap();
    let next = first.next.clone();
    assert_eq!(names(first), ["a"]);
    let rest = store
        .list_secrets(ACCOUNT, true, next.as_deref(), 1)
        .await
        .unwrap();
    assert_eq!(
        (names(rest.clone()), rest.next),
        (vec!["c".to_owned()], None)
    );
}
