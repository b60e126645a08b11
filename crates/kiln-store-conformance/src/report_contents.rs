//! A report's test cases and code coverages: filters, sorts, bounds and pages.

use std::sync::Arc;

use kiln_domain::report::{
    CodeCoverageReportSummary, ReportCodeCoverageSortByType, ReportContents, ReportSummary,
    ReportType, TestCaseStatus,
};
use kiln_store::{CoverageKey, CoverageQuery, Store, StoreError, TestCaseQuery};

use crate::fixtures::{ACCOUNT, OTHER_ACCOUNT};
use crate::report_fixtures::{cases, file, group, report, save_test_report};

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
