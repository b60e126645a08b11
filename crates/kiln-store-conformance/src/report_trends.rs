//! Trends of a group and the reports of a ref's latest build, for badges.

use std::sync::Arc;

use kiln_domain::build::{BuildStatus, PhaseType};
use kiln_domain::refs::GitRef;
use kiln_domain::report::{ReportContents, ReportSummary, ReportType, TestReportSummary};
use kiln_store::{BranchReports, Store};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, claim_request, project, queued_build};
use crate::report_fixtures::{cases, group, report};

/// Inserts a build of project "p" on `git_ref`, started at `start`, complete or not.
async fn build_on(
    store: &Arc<dyn Store>,
    n: u64,
    git_ref: GitRef,
    start: f64,
    complete: bool,
) -> String {
    let mut build = queued_build(ACCOUNT, "p", n, None);
    build.start_time = start;
    store.insert_build(&mut build, 0.0).await.unwrap();
    let claimed = store
        .claim_builds(&claim_request(&format!("o{n}"), 1000.0, 1))
        .await
        .unwrap();
    let lease = claimed
        .iter()
        .find(|b| b.record.uuid == build.uuid)
        .map(|b| b.lease.clone())
        .unwrap();
    build.git_ref = Some(git_ref);
    if complete {
        build.status = BuildStatus::Succeeded;
        build.current_phase = PhaseType::Completed;
        build.end_time = Some(start + 1.0);
    }
    store.save_leased_build(&build, &lease).await.unwrap();
    build.uuid
}

pub async fn trends_and_a_refs_latest_reports(store: Arc<dyn Store>) {
    store
        .create_project(&project(ACCOUNT, "p", 1.0))
        .await
        .unwrap();
    let main = GitRef::Branch("main".into());
    let old = build_on(&store, 1, main.clone(), 100.0, true).await;
    let newer = build_on(&store, 2, main.clone(), 200.0, true).await;
    let running = build_on(&store, 3, main.clone(), 300.0, false).await;
    let other_branch = build_on(&store, 4, GitRef::Branch("dev".into()), 400.0, true).await;
    let mut saved = Vec::new();
    for (uuid, start, n) in [
        (&old, 100.0, 2),
        (&newer, 200.0, 3),
        (&running, 300.0, 4),
        (&other_branch, 400.0, 5),
    ] {
        for g in ["p-unit", "p-int"] {
            let cases = cases(n);
            let mut r = report(
                ACCOUNT,
                g,
                uuid,
                ReportSummary::Test(TestReportSummary::of(&cases)),
            );
            r.build_start_time = start;
            if uuid == &other_branch {
                r.git_ref = Some(GitRef::Branch("dev".into()));
            }
            let new_group = group(ACCOUNT, g, ReportType::Test, 1.0);
            store
                .save_report(&r, ReportContents::Test(&cases), Some(&new_group))
                .await
                .unwrap();
            saved.push(r);
        }
    }
    let which = BranchReports {
        account_id: ACCOUNT,
        project_name: "p",
        git_ref: &main,
        report_type: ReportType::Test,
        group_name: None,
    };
    // The running build is not complete: the latest complete one is `newer`.
    let latest = store.latest_reports_for_ref(&which).await.unwrap();
    let groups: Vec<_> = latest
        .iter()
        .map(|r| (r.build_uuid.as_str(), r.group_name.as_str()))
        .collect();
    assert_eq!(
        groups,
        [(newer.as_str(), "p-int"), (newer.as_str(), "p-unit")]
    );
    let one_group = BranchReports {
        group_name: Some("p-unit"),
        ..which
    };
    let latest = store.latest_reports_for_ref(&one_group).await.unwrap();
    assert_eq!(latest, vec![saved[2].clone()]);
    let coverage = BranchReports {
        report_type: ReportType::CodeCoverage,
        ..which
    };
    assert!(
        store
            .latest_reports_for_ref(&coverage)
            .await
            .unwrap()
            .is_empty()
    );
    let elsewhere = BranchReports {
        account_id: OTHER_ACCOUNT,
        ..which
    };
    assert!(
        store
            .latest_reports_for_ref(&elsewhere)
            .await
            .unwrap()
            .is_empty()
    );

    // A trend reads the group's newest reports first.
    let trend = store
        .report_group_trend(ACCOUNT, "p-unit", 3)
        .await
        .unwrap();
    let uuids: Vec<_> = trend.iter().map(|r| r.build_uuid.as_str()).collect();
    assert_eq!(
        uuids,
        [other_branch.as_str(), running.as_str(), newer.as_str()]
    );
    assert_eq!(trend[0], saved[6]);
    assert!(
        store
            .report_group_trend(OTHER_ACCOUNT, "p-unit", 3)
            .await
            .unwrap()
            .is_empty()
    );
}
