//! Source credentials: one per server type and account, replaced only when asked to.

use std::sync::Arc;

use kiln_store::{SourceCredential, Store, StoreError};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT};

fn credential(account: &str, server_type: &str, token: &str) -> SourceCredential {
    SourceCredential {
        arn: format!("arn:aws:codebuild:us-east-1:{account}:token/{server_type}-{token}"),
        account_id: account.into(),
        server_type: server_type.into(),
        auth_type: "PERSONAL_ACCESS_TOKEN".into(),
        username: None,
        token: token.into(),
    }
}

pub async fn source_credentials_are_one_per_server_type(store: Arc<dyn Store>) {
    let github = credential(ACCOUNT, "GITHUB", "t1");
    store.put_source_credential(&github, false).await.unwrap();
    assert!(matches!(
        store
            .put_source_credential(&credential(ACCOUNT, "GITHUB", "t2"), false)
            .await,
        Err(StoreError::AlreadyExists)
    ));
    let bitbucket = SourceCredential {
        username: Some("me".into()),
        auth_type: "BASIC_AUTH".into(),
        ..credential(ACCOUNT, "BITBUCKET", "t3")
    };
    store
        .put_source_credential(&bitbucket, false)
        .await
        .unwrap();
    store
        .put_source_credential(&credential(OTHER_ACCOUNT, "GITHUB", "t4"), false)
        .await
        .unwrap();
    // Ordered by server type, and only the account's own.
    assert_eq!(
        store.source_credentials(ACCOUNT).await.unwrap(),
        vec![bitbucket.clone(), github.clone()]
    );

    let replacement = credential(ACCOUNT, "GITHUB", "t5");
    store
        .put_source_credential(&replacement, true)
        .await
        .unwrap();
    assert_eq!(
        store.source_credentials(ACCOUNT).await.unwrap(),
        vec![bitbucket.clone(), replacement.clone()]
    );

    assert!(
        !store
            .delete_source_credential(ACCOUNT, &github.arn)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_source_credential(OTHER_ACCOUNT, &replacement.arn)
            .await
            .unwrap(),
        "another account's credential"
    );
    assert!(
        store
            .delete_source_credential(ACCOUNT, &replacement.arn)
            .await
            .unwrap()
    );
    assert_eq!(
        store.source_credentials(ACCOUNT).await.unwrap(),
        vec![bitbucket]
    );
}
