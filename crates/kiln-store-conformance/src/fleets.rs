//! Compute fleets: round trips, listings, and deletion only while no project names a fleet.

use std::sync::Arc;

use kiln_domain::fleet::{self, FleetInput, FleetRecord, ProjectFleet};
use kiln_domain::project::{ProjectEnvironment, ProjectRecord};
use kiln_store::{DeletedFleet, ProjectKey, ProjectSort, Store, StoreError};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, project, queued_build};

/// A fleet as CreateFleet makes it.
pub fn fleet_record(account: &str, name: &str, created: f64) -> FleetRecord {
    let input: FleetInput = serde_json::from_value(serde_json::json!({
        "name": name, "baseCapacity": 2, "environmentType": "LINUX_CONTAINER",
        "computeType": "BUILD_GENERAL1_SMALL", "tags": [{"key": "k", "value": "v"}]
    }))
    .unwrap();
    let id = format!("00000000-0000-4000-8000-{:012}", created as u64);
    fleet::validate_create(input, account, "us-east-1", &id, created).unwrap()
}

/// A project whose builds run on `fleet_arn`.
fn project_on(account: &str, name: &str, fleet_arn: &str) -> ProjectRecord {
    let mut p = project(account, name, 1.0);
    p.settings.environment = Some(ProjectEnvironment {
        fleet: Some(ProjectFleet {
            fleet_arn: Some(fleet_arn.into()),
        }),
        ..ProjectEnvironment::default()
    });
    p
}

pub async fn fleets_round_trip_and_stay_in_their_account(store: Arc<dyn Store>) {
    let f = fleet_record(ACCOUNT, "linux", 1.0);
    store.create_fleet(&f).await.unwrap();
    let mut again = fleet_record(ACCOUNT, "linux", 2.0);
    assert!(matches!(
        store.create_fleet(&again).await,
        Err(StoreError::AlreadyExists)
    ));
    let other = fleet_record(OTHER_ACCOUNT, "linux", 3.0);
    store.create_fleet(&other).await.unwrap();

    let by_name = store
        .get_fleets(ACCOUNT, &["linux", "missing"])
        .await
        .unwrap();
    assert_eq!(by_name, vec![f.clone()]);
    let by_both = store.get_fleets(ACCOUNT, &[&f.arn, "linux"]).await.unwrap();
    assert_eq!(
        by_both,
        vec![f.clone()],
        "one fleet named twice is read once"
    );
    assert_eq!(store.fleet(ACCOUNT, &f.arn).await.unwrap(), Some(f.clone()));
    assert_eq!(store.fleet(ACCOUNT, &other.arn).await.unwrap(), None);
    assert_eq!(
        store.fleet(OTHER_ACCOUNT, "linux").await.unwrap(),
        Some(other.clone())
    );

    let mut updated = f.clone();
    updated.settings.base_capacity = 5;
    updated.settings.overflow_behavior = "ON_DEMAND".into();
    updated.last_modified = 9.0;
    store.update_fleet(&updated).await.unwrap();
    assert_eq!(
        store.fleet(ACCOUNT, "linux").await.unwrap(),
        Some(updated.clone())
    );
    again.arn = "arn:aws:codebuild:us-east-1:111111111111:fleet/linux:gone".into();
    assert!(matches!(
        store.update_fleet(&again).await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        store.delete_fleet(ACCOUNT, &other.arn).await.unwrap(),
        DeletedFleet::NotFound,
        "another account's fleet is not deleted"
    );
    assert_eq!(
        store.delete_fleet(ACCOUNT, &f.arn).await.unwrap(),
        DeletedFleet::Deleted
    );
    assert_eq!(store.fleet(ACCOUNT, "linux").await.unwrap(), None);
    assert_eq!(
        store.delete_fleet(ACCOUNT, &f.arn).await.unwrap(),
        DeletedFleet::NotFound
    );
    // The name is free again; the new fleet has a new ARN.
    let renewed = fleet_record(ACCOUNT, "linux", 4.0);
    store.create_fleet(&renewed).await.unwrap();
    assert_ne!(renewed.arn, f.arn);
    assert!(
        store
            .get_fleets(ACCOUNT, &[&f.arn])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn fleet_listings_sort_and_page(store: Arc<dyn Store>) {
    // Names in one order, creation times in the reverse order; one later modification.
    let names = ["a-fleet", "b-fleet", "c-fleet", "d-fleet", "e-fleet"];
    let mut arns = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let f = fleet_record(ACCOUNT, name, 10.0 - i as f64);
        store.create_fleet(&f).await.unwrap();
        arns.push(f.arn);
    }
    store
        .create_fleet(&fleet_record(OTHER_ACCOUNT, "z-other", 1.0))
        .await
        .unwrap();
    let mut touched = store.fleet(ACCOUNT, "c-fleet").await.unwrap().unwrap();
    touched.last_modified = 50.0;
    store.update_fleet(&touched).await.unwrap();

    let all = |sort, ascending| {
        let store = store.clone();
        async move {
            let mut got = Vec::new();
            let mut after: Option<ProjectKey> = None;
            loop {
                let page = store
                    .list_fleets(ACCOUNT, sort, ascending, after.as_ref(), 2)
                    .await
                    .unwrap();
                assert!(page.items.len() <= 2);
                got.extend(page.items);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break got,
                }
            }
        }
    };
    let by_index = |order: &[usize]| order.iter().map(|&i| arns[i].clone()).collect::<Vec<_>>();
    assert_eq!(
        all(ProjectSort::Name, true).await,
        by_index(&[0, 1, 2, 3, 4])
    );
    assert_eq!(
        all(ProjectSort::Name, false).await,
        by_index(&[4, 3, 2, 1, 0])
    );
    assert_eq!(
        all(ProjectSort::Created, true).await,
        by_index(&[4, 3, 2, 1, 0])
    );
    assert_eq!(
        all(ProjectSort::LastModified, false).await,
        by_index(&[2, 0, 1, 3, 4])
    );
    let first = store
        .list_fleets(ACCOUNT, ProjectSort::Name, true, None, 10)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 5);
    assert_eq!(first.next, None, "a page that holds everything has no next");
}

pub async fn a_fleet_is_deleted_only_when_no_project_names_it(store: Arc<dyn Store>) {
    let f = fleet_record(ACCOUNT, "linux", 1.0);
    store.create_fleet(&f).await.unwrap();
    let unknown = "arn:aws:codebuild:us-east-1:111111111111:fleet/none:x";
    assert!(matches!(
        store
            .create_project(&project_on(ACCOUNT, "lost", unknown))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.get_project(ACCOUNT, "lost").await.unwrap(), None);

    let mut user = project_on(ACCOUNT, "web", &f.arn);
    store.create_project(&user).await.unwrap();
    store
        .create_project(&project_on(ACCOUNT, "api", &f.arn))
        .await
        .unwrap();
    assert_eq!(
        store.delete_fleet(ACCOUNT, &f.arn).await.unwrap(),
        DeletedFleet::InUse {
            project: "api".into()
        }
    );
    assert!(store.fleet(ACCOUNT, "linux").await.unwrap().is_some());

    // A build records the fleet it runs on, and does not hold the fleet.
    let mut build = queued_build(ACCOUNT, "web", 1, None);
    build.settings.environment = user.settings.environment.clone().unwrap();
    store.insert_build(&mut build, 0.0).await.unwrap();
    let stored = store
        .get_build(ACCOUNT, &build.uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.settings.environment.fleet_arn(),
        Some(f.arn.as_str())
    );

    // Updating a project to a missing fleet is refused and changes nothing.
    let mut moved = user.clone();
    moved.settings.environment = project_on(ACCOUNT, "web", unknown).settings.environment;
    assert!(matches!(
        store.update_project(&moved).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.get_project(ACCOUNT, "web").await.unwrap(),
        Some(user.clone())
    );

    user.settings.environment = None;
    store.update_project(&user).await.unwrap();
    assert!(
        store
            .delete_project(ACCOUNT, "api", 5.0)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.delete_fleet(ACCOUNT, &f.arn).await.unwrap(),
        DeletedFleet::Deleted
    );
    let stored = store
        .get_build(ACCOUNT, &build.uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.settings.environment.fleet_arn(),
        Some(f.arn.as_str())
    );
}

/// Projects stored while their fleet is deleted: each either exists with the fleet kept, or
/// was refused with the fleet gone.
pub async fn racing_projects_and_a_fleet_deletion_never_orphan_a_project(store: Arc<dyn Store>) {
    for round in 0..4 {
        let f = fleet_record(ACCOUNT, &format!("f{round}"), f64::from(round + 1));
        store.create_fleet(&f).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..4 {
            let store = store.clone();
            let p = project_on(ACCOUNT, &format!("p{round}-{i}"), &f.arn);
            tasks.push(tokio::spawn(async move {
                store.create_project(&p).await.is_ok()
            }));
        }
        let deleter = {
            let store = store.clone();
            let arn = f.arn.clone();
            tokio::spawn(async move { store.delete_fleet(ACCOUNT, &arn).await.unwrap() })
        };
        let mut created = 0;
        for task in tasks {
            created += usize::from(task.await.unwrap());
        }
        let deleted = deleter.await.unwrap();
        let kept = store.fleet(ACCOUNT, &f.arn).await.unwrap().is_some();
        match deleted {
            DeletedFleet::Deleted => assert!(!kept),
            DeletedFleet::InUse { project } => {
                assert!(kept);
                assert!(project.starts_with(&format!("p{round}-")), "{project}");
            }
            DeletedFleet::NotFound => panic!("the fleet existed"),
        }
        if !kept {
            // Every project that was stored names a fleet that must still exist: none may.
            for i in 0..4 {
                let p = store
                    .get_project(ACCOUNT, &format!("p{round}-{i}"))
                    .await
                    .unwrap();
                assert!(p.is_none(), "a project names a deleted fleet");
            }
        } else {
            assert!(created > 0);
        }
    }
}
