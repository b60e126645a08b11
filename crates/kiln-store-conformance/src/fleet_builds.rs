//! A fleet's incomplete builds, as the console's fleet page reads them: what its agents run,
//! then its queue.

use std::sync::Arc;

use kiln_domain::build::{BuildRecord, BuildStatus, PhaseType};
use kiln_domain::fleet::ProjectFleet;
use kiln_store::{ClaimFleet, ClaimRequest, FleetBuild, Store};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, claim_request, project, queued_build};

const FLEET: &str = "arn:aws:codebuild:us-east-1:111111111111:fleet/linux:0b5e";
const OTHER_FLEET: &str = "arn:aws:codebuild:us-east-1:111111111111:fleet/arm:1";

async fn queue(store: &Arc<dyn Store>, account: &str, n: u64, fleet: Option<&str>) -> String {
    let mut build: BuildRecord = queued_build(account, "p", n, None);
    build.settings.environment.fleet = fleet.map(|arn| ProjectFleet {
        fleet_arn: Some(arn.to_owned()),
    });
    store.insert_build(&mut build, 0.0).await.unwrap();
    build.uuid
}

fn shown(builds: &[FleetBuild]) -> Vec<(String, Option<String>)> {
    builds
        .iter()
        .map(|b| (b.record.uuid.clone(), b.lease_owner.clone()))
        .collect()
}

pub async fn a_fleets_builds_are_its_running_then_its_queued_ones(store: Arc<dyn Store>) {
    for account in [ACCOUNT, OTHER_ACCOUNT] {
        store
            .create_project(&project(account, "p", 1.0))
            .await
            .unwrap();
    }
    let first = queue(&store, ACCOUNT, 1, Some(FLEET)).await;
    let _plain = queue(&store, ACCOUNT, 2, None).await;
    let _elsewhere = queue(&store, ACCOUNT, 3, Some(OTHER_FLEET)).await;
    let second = queue(&store, ACCOUNT, 4, Some(FLEET)).await;
    // Another account's build naming the same ARN is not this account's.
    let _foreign = queue(&store, OTHER_ACCOUNT, 5, Some(FLEET)).await;
    let third = queue(&store, ACCOUNT, 6, Some(FLEET)).await;
    assert_eq!(
        shown(&store.fleet_builds(ACCOUNT, FLEET, 10).await.unwrap()),
        [
            (first.clone(), None),
            (second.clone(), None),
            (third.clone(), None)
        ]
    );
    assert!(
        store
            .fleet_builds(ACCOUNT, "arn:aws:codebuild:us-east-1:1:fleet/none:0", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // An agent takes the two oldest of the fleet; running builds come before the queue, even
    // when the limit leaves queued ones out.
    let owner = "agent:a@s1";
    let agent = ClaimRequest {
        fleet: ClaimFleet::Fleet(FLEET),
        ..claim_request(owner, 200.0, 2)
    };
    let held = store.claim_builds(&agent).await.unwrap();
    assert_eq!(held.len(), 2);
    let running = |uuid: &str| (uuid.to_owned(), Some(owner.to_owned()));
    let builds = store.fleet_builds(ACCOUNT, FLEET, 10).await.unwrap();
    assert_eq!(
        shown(&builds),
        [running(&first), running(&second), (third.clone(), None)]
    );
    assert_eq!(
        shown(&store.fleet_builds(ACCOUNT, FLEET, 2).await.unwrap()),
        [running(&first), running(&second)]
    );

    // A completed build is no longer the fleet's.
    let done = held
        .iter()
        .find(|b| b.record.uuid == first)
        .unwrap()
        .clone();
    let mut record = done.record.clone();
    record.end_phase(BuildStatus::Succeeded, None, 210.0);
    record.begin_phase(PhaseType::Completed, 210.0);
    store.save_leased_build(&record, &done.lease).await.unwrap();
    assert_eq!(
        shown(&store.fleet_builds(ACCOUNT, FLEET, 10).await.unwrap()),
        [running(&second), (third, None)]
    );
}
