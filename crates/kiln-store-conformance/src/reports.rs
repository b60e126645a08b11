//! Report groups, reports, their test cases and code coverages, trends and badge lookups.

use std::sync::Arc;

use kiln_domain::build::{BuildStatus, PhaseType};
use kiln_domain::project::Tag;
use kiln_domain::refs::GitRef;
use kiln_domain::report::{
    CodeCoverage, CodeCoverageReportSummary, ReportCodeCoverageSortByType, ReportContents,
    ReportExportConfig, ReportGroupRecord, ReportRecord, ReportStatusType, ReportSummary,
    ReportType, TestCase, TestCaseStatus, TestReportSummary, report_arn, report_group_arn,
};
use kiln_store::{
    BranchReports, CoverageKey, CoverageQuery, DeletedReportGroup, ProjectSort, ReportQuery, Store,
    StoreError, TestCaseQuery,
};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT, claim_request, project, queued_build};

const REGION: &str = "eu-west-1";

pub fn group(account: &str, name: &str, report_type: ReportType, at: f64) -> ReportGroupRecord {
    ReportGroupRecord {
        account_id: account.into(),
        name: name.into(),
        report_type,
        export_config: ReportExportConfig::no_export(),
        tags: vec![Tag {
            key: Some("k".into()),
            value: Some("v".into()),
        }],
        created: at,
        last_modified: at,
    }
}

fn case(n: usize, status: TestCaseStatus) -> TestCase {
    TestCase {
        prefix: format!("suite{}", n % 3),
        name: format!("test_{n}"),
        status,
        duration_in_nano_seconds: n as u64 * 1000,
        message: (status == TestCaseStatus::Failed).then(|| format!("boom {n}")),
        test_suite_name: Some("all".into()),
        test_raw_data_path: Some(format!("reports/junit-{}.xml", n % 2)),
    }
}

/// Cases 0..n: every fourth fails.
pub fn cases(n: usize) -> Vec<TestCase> {
    (0..n)
        .map(|i| {
            let status = if i % 4 == 3 {
                TestCaseStatus::Failed
            } else {
                TestCaseStatus::Succeeded
            };
            case(i, status)
        })
        .collect()
}

fn file(path: &str, covered: u64, missed: u64) -> CodeCoverage {
    let pct = (covered as f64 * 10_000.0 / (covered + missed).max(1) as f64).round() / 100.0;
    CodeCoverage {
        file_path: path.into(),
        line_coverage_percentage: pct,
        lines_covered: covered,
        lines_missed: missed,
        branch_coverage_percentage: 0.0,
        branches_covered: 0,
        branches_missed: 2,
    }
}

pub fn report(
    account: &str,
    group_name: &str,
    build_uuid: &str,
    summary: ReportSummary,
) -> ReportRecord {
    let status = match &summary {
        ReportSummary::Test(s) => s.report_status(),
        ReportSummary::CodeCoverage(_) => ReportStatusType::Succeeded,
    };
    ReportRecord {
        arn: report_arn(REGION, account, group_name, build_uuid),
        account_id: account.into(),
        group_name: group_name.into(),
        group_arn: report_group_arn(REGION, account, group_name),
        name: group_name.into(),
        execution_id: format!("arn:aws:codebuild:{REGION}:{account}:build/p:{build_uuid}"),
        build_uuid: build_uuid.into(),
        project_name: "p".into(),
        git_ref: Some(GitRef::Branch("main".into())),
        build_start_time: 10.0,
        status,
        created: 20.0,
        truncated: false,
        export_config: ReportExportConfig::no_export(),
        summary,
    }
}

/// Saves a test report of `n` cases (from [`cases`]) in `group_name`, creating the group.
async fn save_test_report(
    store: &Arc<dyn Store>,
    account: &str,
    group_name: &str,
    build_uuid: &str,
    n: usize,
) -> ReportRecord {
    let cases = cases(n);
    let record = report(
        account,
        group_name,
        build_uuid,
        ReportSummary::Test(TestReportSummary::of(&cases)),
    );
    let new_group = group(account, group_name, ReportType::Test, 1.0);
    store
        .save_report(&record, ReportContents::Test(&cases), Some(&new_group))
        .await
        .unwrap();
    record
}

pub async fn report_groups_round_trip_and_stay_in_their_account(store: Arc<dyn Store>) {
    let g = group(ACCOUNT, "unit", ReportType::Test, 1.0);
    store.create_report_group(&g).await.unwrap();
    assert!(matches!(
        store.create_report_group(&g).await,
        Err(StoreError::AlreadyExists)
    ));
    let other = group(OTHER_ACCOUNT, "unit", ReportType::CodeCoverage, 2.0);
    store.create_report_group(&other).await.unwrap();
    let got = store
        .get_report_groups(ACCOUNT, &["unit", "missing"])
        .await
        .unwrap();
    assert_eq!(got, vec![g.clone()]);
    assert_eq!(
        store
            .get_report_groups(OTHER_ACCOUNT, &["unit"])
            .await
            .unwrap(),
        vec![other.clone()]
    );

    let mut updated = g.clone();
    updated.export_config.export_config_type = Some("S3".into());
    updated.tags.clear();
    updated.last_modified = 3.0;
    store.update_report_group(&updated).await.unwrap();
    assert_eq!(
        store.get_report_groups(ACCOUNT, &["unit"]).await.unwrap(),
        vec![updated.clone()]
    );
    let mut gone = updated.clone();
    gone.name = "gone".into();
    assert!(matches!(
        store.update_report_group(&gone).await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(
        store
            .delete_report_group(ACCOUNT, "gone", false)
            .await
            .unwrap(),
        DeletedReportGroup::NotFound
    );
    assert_eq!(
        store
            .delete_report_group(ACCOUNT, "unit", false)
            .await
            .unwrap(),
        DeletedReportGroup::Deleted
    );
    assert!(
        store
            .get_report_groups(ACCOUNT, &["unit"])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .get_report_groups(OTHER_ACCOUNT, &["unit"])
            .await
            .unwrap(),
        vec![other]
    );
}

pub async fn report_group_listings_sort_and_page(store: Arc<dyn Store>) {
    // Names in one order, creation times in the reverse order.
    for (i, name) in ["a1", "b2", "c3", "d4", "e5"].iter().enumerate() {
        let g = group(ACCOUNT, name, ReportType::Test, 10.0 - i as f64);
        store.create_report_group(&g).await.unwrap();
    }
    store
        .create_report_group(&group(OTHER_ACCOUNT, "zz", ReportType::Test, 1.0))
        .await
        .unwrap();
    for (sort, ascending, expected) in [
        (ProjectSort::Name, true, ["a1", "b2", "c3", "d4", "e5"]),
        (ProjectSort::Name, false, ["e5", "d4", "c3", "b2", "a1"]),
        (ProjectSort::Created, true, ["e5", "d4", "c3", "b2", "a1"]),
        (
            ProjectSort::LastModified,
            false,
            ["a1", "b2", "c3", "d4", "e5"],
        ),
    ] {
        let mut names = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_report_groups(ACCOUNT, sort, ascending, after.as_ref(), 2)
                .await
                .unwrap();
            assert!(page.items.len() <= 2);
            names.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(names, expected, "{sort:?} {ascending}");
    }
    // A group deleted between pages moves nothing: the next page starts after the last key.
    let first = store
        .list_report_groups(ACCOUNT, ProjectSort::Name, true, None, 2)
        .await
        .unwrap();
    store
        .delete_report_group(ACCOUNT, "b2", false)
        .await
        .unwrap();
    let second = store
        .list_report_groups(ACCOUNT, ProjectSort::Name, true, first.next.as_ref(), 2)
        .await
        .unwrap();
    assert_eq!(second.items, ["c3", "d4"]);
}

pub async fn saving_a_report_is_one_transaction(store: Arc<dyn Store>) {
    let test_cases = cases(1200);
    let summary = ReportSummary::Test(TestReportSummary::of(&test_cases));
    let record = report(ACCOUNT, "p-unit", "u1", summary.clone());
    // No group and none to create: nothing is stored.
    assert!(matches!(
        store
            .save_report(&record, ReportContents::Test(&test_cases), None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .get_reports(ACCOUNT, &[&record.arn])
            .await
            .unwrap()
            .is_empty()
    );
    // A group of the other type refuses the report.
    let coverage = group(ACCOUNT, "p-unit", ReportType::CodeCoverage, 1.0);
    store.create_report_group(&coverage).await.unwrap();
    let auto = group(ACCOUNT, "p-unit", ReportType::Test, 2.0);
    assert!(matches!(
        store
            .save_report(&record, ReportContents::Test(&test_cases), Some(&auto))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .delete_report_group(ACCOUNT, "p-unit", false)
        .await
        .unwrap();

    // The group is created with the report, and the cases are all there.
    store
        .save_report(&record, ReportContents::Test(&test_cases), Some(&auto))
        .await
        .unwrap();
    assert_eq!(
        store.get_report_groups(ACCOUNT, &["p-unit"]).await.unwrap(),
        vec![auto.clone()]
    );
    assert_eq!(
        store.get_reports(ACCOUNT, &[&record.arn]).await.unwrap(),
        vec![record.clone()]
    );
    let page = store
        .describe_test_cases(ACCOUNT, &record.arn, &TestCaseQuery::default(), None, 5000)
        .await
        .unwrap();
    assert_eq!(page.items, test_cases);
    // Saving it again fails whole: the report stays as it was, with its cases once.
    let fewer = cases(3);
    assert!(matches!(
        store
            .save_report(&record, ReportContents::Test(&fewer), Some(&auto))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    let page = store
        .describe_test_cases(ACCOUNT, &record.arn, &TestCaseQuery::default(), None, 5000)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1200);
    // The other account sees none of it.
    assert!(
        store
            .get_reports(OTHER_ACCOUNT, &[&record.arn])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store
            .describe_test_cases(
                OTHER_ACCOUNT,
                &record.arn,
                &TestCaseQuery::default(),
                None,
                10
            )
            .await,
        Err(StoreError::NotFound)
    ));
    // A coverage report keeps its summary exactly.
    let files = [file("src/a.rs", 1, 2), file("src/b.rs", 3, 0)];
    let cov = report(
        ACCOUNT,
        "p-cov",
        "u1",
        ReportSummary::CodeCoverage(CodeCoverageReportSummary::of(&files)),
    );
    let cov_group = group(ACCOUNT, "p-cov", ReportType::CodeCoverage, 1.0);
    store
        .save_report(&cov, ReportContents::CodeCoverage(&files), Some(&cov_group))
        .await
        .unwrap();
    assert_eq!(
        store.get_reports(ACCOUNT, &[&cov.arn]).await.unwrap(),
        vec![cov]
    );
}

pub async fn report_listings_filter_and_page_stably(store: Arc<dyn Store>) {
    let mut arns = Vec::new();
    for i in 0..6 {
        let g = if i % 2 == 0 { "p-even" } else { "p-odd" };
        // Reports 0 and 3 have a failing case.
        let r = save_test_report(&store, ACCOUNT, g, &format!("u{i}"), 4 - (i % 3)).await;
        arns.push(r.arn);
    }
    save_test_report(&store, OTHER_ACCOUNT, "p-even", "x", 1).await;
    let all = |ascending| ReportQuery {
        group_name: None,
        status: None,
        ascending,
    };
    let listed = store.list_reports(ACCOUNT, &all(true), None, 100).await;
    assert_eq!(listed.unwrap().items, arns);

    // Newest first, two a page; a report stored between pages is not met, one deleted is not
    // missed.
    let first = store
        .list_reports(ACCOUNT, &all(false), None, 2)
        .await
        .unwrap();
    assert_eq!(first.items, [arns[5].clone(), arns[4].clone()]);
    save_test_report(&store, ACCOUNT, "p-even", "late", 1).await;
    assert!(store.delete_report(ACCOUNT, &arns[3]).await.unwrap());
    assert!(!store.delete_report(ACCOUNT, &arns[3]).await.unwrap());
    assert!(!store.delete_report(OTHER_ACCOUNT, &arns[2]).await.unwrap());
    let second = store
        .list_reports(ACCOUNT, &all(false), first.next, 2)
        .await
        .unwrap();
    assert_eq!(second.items, [arns[2].clone(), arns[1].clone()]);
    let third = store
        .list_reports(ACCOUNT, &all(false), second.next, 2)
        .await
        .unwrap();
    assert_eq!(third.items, [arns[0].clone()]);
    assert_eq!(third.next, None);

    let failed = ReportQuery {
        group_name: None,
        status: Some(ReportStatusType::Failed),
        ascending: true,
    };
    let listed = store.list_reports(ACCOUNT, &failed, None, 100).await;
    assert_eq!(listed.unwrap().items, [arns[0].clone()]);
    let odd = ReportQuery {
        group_name: Some("p-odd"),
        status: None,
        ascending: true,
    };
    let listed = store.list_reports(ACCOUNT, &odd, None, 100).await;
    assert_eq!(listed.unwrap().items, [arns[1].clone(), arns[5].clone()]);
    let odd_succeeded = ReportQuery {
        status: Some(ReportStatusType::Succeeded),
        ..odd
    };
    let listed = store.list_reports(ACCOUNT, &odd_succeeded, None, 100).await;
    assert_eq!(listed.unwrap().items, [arns[1].clone(), arns[5].clone()]);
    let other = store
        .list_reports(OTHER_ACCOUNT, &all(true), None, 100)
        .await;
    assert_eq!(other.unwrap().items.len(), 1);
}

pub async fn a_group_with_reports_is_deleted_only_with_them(store: Arc<dyn Store>) {
    let r = save_test_report(&store, ACCOUNT, "p-unit", "u1", 5).await;
    assert_eq!(
        store
            .delete_report_group(ACCOUNT, "p-unit", false)
            .await
            .unwrap(),
        DeletedReportGroup::HasReports
    );
    assert_eq!(
        store.get_reports(ACCOUNT, &[&r.arn]).await.unwrap().len(),
        1
    );
    assert_eq!(
        store
            .delete_report_group(ACCOUNT, "p-unit", true)
            .await
            .unwrap(),
        DeletedReportGroup::Deleted
    );
    assert!(
        store
            .get_reports(ACCOUNT, &[&r.arn])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store
            .describe_test_cases(ACCOUNT, &r.arn, &TestCaseQuery::default(), None, 10)
            .await,
        Err(StoreError::NotFound)
    ));
    // The same report can be stored again (its cases went with it).
    let again = save_test_report(&store, ACCOUNT, "p-unit", "u1", 2).await;
    let page = store
        .describe_test_cases(ACCOUNT, &again.arn, &TestCaseQuery::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
}

pub async fn test_cases_filter_and_page(store: Arc<dyn Store>) {
    let r = save_test_report(&store, ACCOUNT, "p-unit", "u1", 40).await;
    let all = cases(40);
    let read_all = |query: TestCaseQuery<'static>, page_size: u64| {
        let store = store.clone();
        let arn = r.arn.clone();
        async move {
            let mut out = Vec::new();
            let mut after = None;
            loop {
                let page = store
                    .describe_test_cases(ACCOUNT, &arn, &query, after, page_size)
                    .await
                    .unwrap();
                assert!(page.items.len() as u64 <= page_size);
                out.extend(page.items);
                match page.next {
                    Some(n) => after = Some(n),
                    None => return out,
                }
            }
        }
    };
    assert_eq!(read_all(TestCaseQuery::default(), 7).await, all);
    let failed = TestCaseQuery {
        status: Some(TestCaseStatus::Failed),
        keyword: None,
    };
    let expected: Vec<_> = all
        .iter()
        .filter(|c| c.status == TestCaseStatus::Failed)
        .cloned()
        .collect();
    assert_eq!(read_all(failed, 3).await, expected);
    // The keyword matches the name or the prefix, as a substring.
    let by_name = TestCaseQuery {
        status: None,
        keyword: Some("t_1"),
    };
    let names: Vec<_> = read_all(by_name, 4)
        .await
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names.len(), 11, "{names:?}"); // test_1, test_10..test_19
    let by_prefix = TestCaseQuery {
        status: Some(TestCaseStatus::Failed),
        keyword: Some("suite0"),
    };
    let expected: Vec<_> = all
        .iter()
        .filter(|c| c.status == TestCaseStatus::Failed && c.prefix == "suite0")
        .cloned()
        .collect();
    assert_eq!(read_all(by_prefix, 100).await, expected);
    // A keyword with LIKE's wildcards is plain text.
    let wild = TestCaseQuery {
        status: None,
        keyword: Some("%"),
    };
    assert!(read_all(wild, 100).await.is_empty());
}

pub async fn code_coverages_sort_bound_and_page(store: Arc<dyn Store>) {
    let files = [
        file("src/c.rs", 1, 1),
        file("src/a.rs", 3, 1),
        file("src/e.rs", 0, 4),
        file("src/b.rs", 1, 1),
        file("src/d.rs", 4, 0),
    ];
    let r = report(
        ACCOUNT,
        "p-cov",
        "u1",
        ReportSummary::CodeCoverage(CodeCoverageReportSummary::of(&files)),
    );
    let g = group(ACCOUNT, "p-cov", ReportType::CodeCoverage, 1.0);
    store
        .save_report(&r, ReportContents::CodeCoverage(&files), Some(&g))
        .await
        .unwrap();
    let read_all = |query: CoverageQuery| {
        let store = store.clone();
        let arn = r.arn.clone();
        async move {
            let mut out = Vec::new();
            let mut after: Option<CoverageKey> = None;
            loop {
                let page = store
                    .describe_code_coverages(ACCOUNT, &arn, &query, after.as_ref(), 2)
                    .await
                    .unwrap();
                out.extend(page.items.into_iter().map(|(_, f)| f.file_path));
                match page.next {
                    Some(n) => after = Some(n),
                    None => return out,
                }
            }
        }
    };
    let query = |sort, ascending, min, max| CoverageQuery {
        sort,
        ascending,
        min_line_coverage: min,
        max_line_coverage: max,
    };
    use ReportCodeCoverageSortByType::{FilePath, LineCoveragePercentage};
    assert_eq!(
        read_all(query(FilePath, true, 0.0, 100.0)).await,
        ["src/a.rs", "src/b.rs", "src/c.rs", "src/d.rs", "src/e.rs"]
    );
    assert_eq!(
        read_all(query(LineCoveragePercentage, true, 0.0, 100.0)).await,
        ["src/e.rs", "src/b.rs", "src/c.rs", "src/a.rs", "src/d.rs"]
    );
    assert_eq!(
        read_all(query(LineCoveragePercentage, false, 50.0, 75.0)).await,
        ["src/a.rs", "src/c.rs", "src/b.rs"]
    );
    assert_eq!(
        read_all(query(FilePath, false, 100.0, 100.0)).await,
        ["src/d.rs"]
    );
    let page = store
        .describe_code_coverages(ACCOUNT, &r.arn, &query(FilePath, true, 0.0, 100.0), None, 1)
        .await
        .unwrap();
    assert_eq!(page.items[0].1, files[1]);
    assert!(matches!(
        store
            .describe_code_coverages(
                OTHER_ACCOUNT,
                &r.arn,
                &query(FilePath, true, 0.0, 100.0),
                None,
                1
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

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
