//! Webhooks and their deliveries: ownership by the project, delivery-id and body claims,
//! outcomes and pruning.

use std::sync::Arc;

use kiln_domain::webhook::{DeliveryOutcome, DeliveryRecord};
use kiln_store::{BodyClaim, Claim, DELIVERIES_KEPT, Store, StoreError};

use crate::fixtures::{ACCOUNT, delivery, project, webhook};

const DAY: f64 = 86_400.0;

async fn with_projects(store: &Arc<dyn Store>, names: &[&str]) {
    for name in names {
        store
            .create_project(&project(ACCOUNT, name, 1.0))
            .await
            .unwrap();
    }
}

fn body(sha: &str) -> BodyClaim<'_> {
    BodyClaim {
        body_sha256: sha,
        window_start: 0.0,
    }
}

pub async fn webhooks_belong_to_their_project(store: Arc<dyn Store>) {
    assert!(matches!(
        store.create_webhook(&webhook(ACCOUNT, "a")).await,
        Err(StoreError::NotFound)
    ));
    with_projects(&store, &["a"]).await;
    store.create_webhook(&webhook(ACCOUNT, "a")).await.unwrap();
    assert!(matches!(
        store.create_webhook(&webhook(ACCOUNT, "a")).await,
        Err(StoreError::AlreadyExists)
    ));
    let token = webhook(ACCOUNT, "a").token;
    let mut hook = store.webhook_by_token(&token).await.unwrap().unwrap();
    assert_eq!(hook, webhook(ACCOUNT, "a"));
    hook.secret = "rotated".into();
    hook.last_modified_secret = 2.0;
    hook.config.branch_filter = Some("main".into());
    store.update_webhook(&hook).await.unwrap();
    assert_eq!(store.get_webhook(ACCOUNT, "a").await.unwrap(), Some(hook));
    assert_eq!(store.get_webhook(ACCOUNT, "b").await.unwrap(), None);
    assert!(matches!(
        store.update_webhook(&webhook(ACCOUNT, "b")).await,
        Err(StoreError::NotFound)
    ));

    // Deleting the webhook keeps the project's delivery history.
    store
        .insert_webhook_delivery(&delivery("a", Some("d")))
        .await
        .unwrap();
    assert!(store.delete_webhook(ACCOUNT, "a").await.unwrap());
    assert!(!store.delete_webhook(ACCOUNT, "a").await.unwrap());
    assert_eq!(store.webhook_by_token(&token).await.unwrap(), None);
    let kept = store.recent_webhook_deliveries(ACCOUNT, "a", 10).await;
    assert_eq!(kept.unwrap().len(), 1);

    // Deleting the project takes its webhook and deliveries.
    store.create_webhook(&webhook(ACCOUNT, "a")).await.unwrap();
    assert!(
        store
            .delete_project(ACCOUNT, "a", 9.0)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.webhook_by_token(&token).await.unwrap(), None);
    let gone = store.recent_webhook_deliveries(ACCOUNT, "a", 10).await;
    assert!(gone.unwrap().is_empty());
    assert!(matches!(
        store.insert_webhook_delivery(&delivery("a", None)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .claim_webhook_delivery(&delivery("a", Some("d")), &body("b"))
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn deliveries_claim_their_id_once_and_are_pruned(store: Arc<dyn Store>) {
    with_projects(&store, &["a", "b"]).await;
    let Claim::Claimed(first) = store
        .claim_webhook_delivery(&delivery("a", Some("d1")), &body("b1"))
        .await
        .unwrap()
    else {
        panic!("the first delivery is no duplicate");
    };
    assert_eq!(
        store
            .claim_webhook_delivery(&delivery("a", Some("d1")), &body("b2"))
            .await
            .unwrap(),
        Claim::DuplicateDeliveryId
    );
    // Unclaimed rows (refused, duplicates) and other projects do not collide.
    store
        .insert_webhook_delivery(&delivery("a", Some("d1")))
        .await
        .unwrap();
    assert!(matches!(
        store
            .claim_webhook_delivery(&delivery("b", Some("d1")), &body("b1"))
            .await
            .unwrap(),
        Claim::Claimed(_)
    ));
    store
        .set_webhook_delivery_outcome(first, DeliveryOutcome::Built, "built", Some("a:u"))
        .await
        .unwrap();
    let recent = store
        .recent_webhook_deliveries(ACCOUNT, "a", 10)
        .await
        .unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(
        recent[1],
        DeliveryRecord {
            outcome: DeliveryOutcome::Built,
            reason: "built".into(),
            build_id: Some("a:u".into()),
            ..delivery("a", Some("d1"))
        }
    );
    let newest = store.recent_webhook_deliveries(ACCOUNT, "a", 1).await;
    assert_eq!(newest.unwrap()[..], recent[..1]);

    for i in 0..DELIVERIES_KEPT + 5 {
        store
            .insert_webhook_delivery(&delivery("a", Some(&format!("x{i}"))))
            .await
            .unwrap();
    }
    let all = store
        .recent_webhook_deliveries(ACCOUNT, "a", 10_000)
        .await
        .unwrap();
    // The unclaimed ones are capped; the claim survives the flood.
    assert_eq!(all.len() as i64, DELIVERIES_KEPT + 1);
    assert_eq!(
        store
            .claim_webhook_delivery(&delivery("a", Some("d1")), &body("b3"))
            .await
            .unwrap(),
        Claim::DuplicateDeliveryId
    );
}

pub async fn a_body_is_claimed_once_per_window_whatever_its_delivery_id(store: Arc<dyn Store>) {
    with_projects(&store, &["a", "b"]).await;
    let at = |id: Option<&str>, received_at: f64| DeliveryRecord {
        received_at,
        ..delivery("a", id)
    };
    let window = |now: f64| BodyClaim {
        body_sha256: "same",
        window_start: now - DAY,
    };
    assert!(matches!(
        store
            .claim_webhook_delivery(&at(Some("d1"), DAY), &window(DAY))
            .await
            .unwrap(),
        Claim::Claimed(_)
    ));
    for id in [Some("d2"), Some("D1"), None] {
        assert_eq!(
            store
                .claim_webhook_delivery(&at(id, DAY + 10.0), &window(DAY + 10.0))
                .await
                .unwrap(),
            Claim::DuplicateBody,
            "{id:?}"
        );
    }
    // Nothing was recorded for the duplicates, and the id d2 is still free.
    let recorded = store.recent_webhook_deliveries(ACCOUNT, "a", 10).await;
    assert_eq!(recorded.unwrap().len(), 1);
    // Another project may receive the same body.
    assert!(matches!(
        store
            .claim_webhook_delivery(&delivery("b", None), &window(DAY + 20.0))
            .await
            .unwrap(),
        Claim::Claimed(_)
    ));
    // Past the window the body may build again.
    assert!(matches!(
        store
            .claim_webhook_delivery(&at(Some("d2"), 2.0 * DAY + 1.0), &window(2.0 * DAY + 1.0))
            .await
            .unwrap(),
        Claim::Claimed(_)
    ));
}

pub async fn racing_claims_of_one_delivery_claim_it_once(store: Arc<dyn Store>) {
    with_projects(&store, &["a"]).await;
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let sha = format!("body-{n}");
                store
                    .claim_webhook_delivery(&delivery("a", Some("same-id")), &body(&sha))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut claimed = 0;
    for task in tasks {
        match task.await.unwrap() {
            Claim::Claimed(_) => claimed += 1,
            other => assert_eq!(other, Claim::DuplicateDeliveryId),
        }
    }
    assert_eq!(claimed, 1);
}
