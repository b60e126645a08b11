//! Reports: saving one (with its contents, in one transaction) and listing them.

use std::sync::Arc;

use kiln_domain::report::{
    CodeCoverageReportSummary, ReportContents, ReportStatusType, ReportSummary, ReportType,
    TestReportSummary,
};
use kiln_store::{ReportQuery, Store, StoreError, TestCaseQuery};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT};
use crate::report_fixtures::{cases, file, group, report, save_test_report};

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
