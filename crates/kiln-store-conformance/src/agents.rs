//! Build agents: tokens kept hashed, sessions one per name in a fleet, and the leases an agent
//! renews by listing the builds it runs.

use std::sync::Arc;

use kiln_store::{AgentSession, AgentToken, ClaimFleet, ClaimRequest, Store, StoreError};

use crate::fixtures::{
    ACCOUNT, LEASE_SECONDS, OTHER_ACCOUNT, claim_request, end_reason, insert, project, uuid_of,
};

const FLEET: &str = "arn:aws:codebuild:us-east-1:111111111111:fleet/linux:0b5e";

fn token(id: &str, account: &str, created: f64) -> AgentToken {
    AgentToken {
        id: id.into(),
        account_id: account.into(),
        fleet_arn: FLEET.into(),
        fleet_name: "linux".into(),
        created,
        revoked: None,
    }
}

fn session(id: &str, token_id: &str, name: &str, heard: f64) -> AgentSession {
    AgentSession {
        session: id.into(),
        token_id: token_id.into(),
        account_id: ACCOUNT.into(),
        fleet_arn: FLEET.into(),
        name: name.into(),
        version: "0.1.0".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        executor: "local".into(),
        capacity: 2,
        labels: vec!["gpu".into()],
        registered: heard,
        last_heartbeat: heard,
    }
}

pub async fn agent_tokens_are_found_by_hash_and_revoked_once(store: Arc<dyn Store>) {
    let first = token("t1", ACCOUNT, 1.0);
    store.create_agent_token(&first, "hash-1").await.unwrap();
    store
        .create_agent_token(&token("t2", OTHER_ACCOUNT, 2.0), "hash-2")
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_agent_token(&token("t3", ACCOUNT, 3.0), "hash-1")
            .await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        store.agent_token_by_hash("hash-1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.agent_token_by_hash("nope").await.unwrap(), None);
    let ids: Vec<String> = store
        .agent_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["t1", "t2"]);

    store
        .register_agent(&session("s1", "t1", "a", 10.0), 0.0)
        .await
        .unwrap();
    assert!(store.revoke_agent_token("t1", 20.0).await.unwrap());
    assert!(!store.revoke_agent_token("t1", 21.0).await.unwrap());
    assert!(!store.revoke_agent_token("missing", 21.0).await.unwrap());
    let revoked = store.agent_token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked, Some(20.0));
    // Its sessions went with it.
    assert_eq!(store.agent_session("s1").await.unwrap(), None);
    assert!(!store.touch_agent("s1", 22.0).await.unwrap());
}

pub async fn an_agent_name_is_one_live_session_per_fleet(store: Arc<dyn Store>) {
    store
        .create_agent_token(&token("t1", ACCOUNT, 1.0), "h1")
        .await
        .unwrap();
    store
        .create_agent_token(&token("t2", ACCOUNT, 1.0), "h2")
        .await
        .unwrap();
    let first = session("s1", "t1", "a", 10.0);
    store.register_agent(&first, 0.0).await.unwrap();
    assert_eq!(store.agent_session("s1").await.unwrap(), Some(first));

    // Another token may not take a live name...
    assert!(matches!(
        store
            .register_agent(&session("s2", "t2", "a", 11.0), 5.0)
            .await,
        Err(StoreError::AlreadyExists)
    ));
    // ...but the same token replaces its session (a restarted agent).
    store
        .register_agent(&session("s3", "t1", "a", 12.0), 5.0)
        .await
        .unwrap();
    assert_eq!(store.agent_session("s1").await.unwrap(), None);
    assert!(!store.touch_agent("s1", 13.0).await.unwrap());
    // A name silent since before `live_since` is free for anyone.
    store
        .register_agent(&session("s4", "t2", "a", 40.0), 30.0)
        .await
        .unwrap();
    assert_eq!(store.agent_session("s3").await.unwrap(), None);

    store
        .register_agent(&session("s5", "t1", "b", 40.0), 30.0)
        .await
        .unwrap();
    assert!(store.touch_agent("s5", 50.0).await.unwrap());
    let live: Vec<(String, f64)> = store
        .live_agents(Some(ACCOUNT), 45.0)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.session, s.last_heartbeat))
        .collect();
    assert_eq!(live, [("s5".to_owned(), 50.0)]);
    assert_eq!(store.live_agents(None, 0.0).await.unwrap().len(), 2);
    assert!(
        store
            .live_agents(Some(OTHER_ACCOUNT), 0.0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.remove_agent("s5").await.unwrap());
    assert!(!store.remove_agent("s5").await.unwrap());
}

pub async fn an_agent_renews_only_the_leases_it_lists(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let running = uuid_of(&insert(&store, "p", 1).await).to_owned();
    let lost_in_transit = uuid_of(&insert(&store, "p", 2).await).to_owned();
    let owner = "agent:a@s1";
    let claimed = store
        .claim_builds(&claim_request(owner, 100.0, 2))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);

    let renewed = store
        .renew_listed_leases(
            owner,
            &[running.clone(), "unknown".into()],
            120.0,
            LEASE_SECONDS,
        )
        .await
        .unwrap();
    assert_eq!(renewed.len(), 1);
    assert_eq!(renewed[0].uuid, running);
    // Another owner renews nothing of these.
    assert!(
        store
            .renew_listed_leases(
                "agent:b@s2",
                std::slice::from_ref(&running),
                120.0,
                LEASE_SECONDS
            )
            .await
            .unwrap()
            .is_empty()
    );

    // The build the agent never listed expires, with its agent named as the reason.
    let expired = store
        .expire_leases(100.0 + LEASE_SECONDS + 1.0)
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].uuid, lost_in_transit);
    assert_eq!(
        end_reason(&expired[0]),
        Some("agent a stopped renewing its lease")
    );
    assert!(store.leased_build(&running).await.unwrap().is_some());
}

pub async fn builds_of_a_fleet_go_to_its_agents_or_to_overflow(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let queue = |n: u64, fleet: Option<&str>| {
        let mut build = crate::fixtures::queued_build(ACCOUNT, "p", n, None);
        build.settings.environment.fleet = fleet.map(|arn| kiln_domain::fleet::ProjectFleet {
            fleet_arn: Some(arn.to_owned()),
        });
        build
    };
    let mut plain = queue(1, None);
    let mut fleet_build = queue(2, Some(FLEET));
    let mut other_fleet = queue(
        3,
        Some("arn:aws:codebuild:us-east-1:111111111111:fleet/arm:1"),
    );
    for build in [&mut plain, &mut fleet_build, &mut other_fleet] {
        store.insert_build(build, 0.0).await.unwrap();
    }
    let claimed = |request: ClaimRequest<'static>| {
        let store = Arc::clone(&store);
        async move {
            store
                .claim_builds(&request)
                .await
                .unwrap()
                .into_iter()
                .map(|b| b.record.uuid)
                .collect::<Vec<_>>()
        }
    };
    // An agent takes only its fleet's build.
    let agent = ClaimRequest {
        fleet: ClaimFleet::Fleet(FLEET),
        ..claim_request("agent:a@s1", 100.0, 10)
    };
    assert_eq!(claimed(agent).await, [fleet_build.uuid.clone()]);
    // On-demand capacity takes builds of no fleet, and of a fleet only while it overflows.
    assert_eq!(
        claimed(claim_request("replica", 100.0, 10)).await,
        [plain.uuid.clone()]
    );
    static OVERFLOW: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        vec!["arn:aws:codebuild:us-east-1:111111111111:fleet/arm:1".to_owned()]
    });
    let overflowing = ClaimRequest {
        fleet: ClaimFleet::OnDemand {
            overflow: &OVERFLOW,
        },
        ..claim_request("replica", 100.0, 10)
    };
    assert_eq!(claimed(overflowing).await, [other_fleet.uuid.clone()]);
}

pub async fn an_on_demand_fleet_overflows_only_while_its_agents_are_busy(store: Arc<dyn Store>) {
    let mut fleet = crate::fleets::fleet_record(ACCOUNT, "busy", 1.0);
    fleet.settings.overflow_behavior = "ON_DEMAND".into();
    store.create_fleet(&fleet).await.unwrap();
    let queued = crate::fleets::fleet_record(ACCOUNT, "queue-only", 2.0);
    store.create_fleet(&queued).await.unwrap();
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    for (n, arn) in [(1, &fleet.arn), (2, &fleet.arn), (3, &queued.arn)] {
        let mut build = crate::fixtures::queued_build(ACCOUNT, "p", n, None);
        build.settings.environment.fleet = Some(kiln_domain::fleet::ProjectFleet {
            fleet_arn: Some(arn.clone()),
        });
        store.insert_build(&mut build, 0.0).await.unwrap();
    }
    // No agent: the ON_DEMAND fleet overflows; the QUEUE fleet never does.
    assert_eq!(
        store.overflowing_fleets(0.0).await.unwrap(),
        [fleet.arn.clone()]
    );

    store
        .create_agent_token(
            &AgentToken {
                fleet_arn: fleet.arn.clone(),
                ..token("t1", ACCOUNT, 1.0)
            },
            "h1",
        )
        .await
        .unwrap();
    let agent = AgentSession {
        fleet_arn: fleet.arn.clone(),
        capacity: 1,
        ..session("s1", "t1", "a", 10.0)
    };
    store.register_agent(&agent, 0.0).await.unwrap();
    // A free slot: builds wait for the agent, unless it has gone silent.
    assert!(store.overflowing_fleets(5.0).await.unwrap().is_empty());
    assert_eq!(
        store.overflowing_fleets(11.0).await.unwrap(),
        [fleet.arn.clone()]
    );
    let owner = agent.lease_owner();
    let request = ClaimRequest {
        fleet: ClaimFleet::Fleet(&fleet.arn),
        ..claim_request(&owner, 20.0, 1)
    };
    assert_eq!(store.claim_builds(&request).await.unwrap().len(), 1);
    // Its one slot is taken and a build still waits: overflow again.
    assert_eq!(
        store.overflowing_fleets(5.0).await.unwrap(),
        [fleet.arn.clone()]
    );
}
