//! Report groups: round trips, listings, and deleting a group with or without its reports.

use std::sync::Arc;

use kiln_domain::report::ReportType;
use kiln_store::{DeletedReportGroup, ProjectSort, Store, StoreError, TestCaseQuery};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT};
use crate::report_fixtures::{group, save_test_report};

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
