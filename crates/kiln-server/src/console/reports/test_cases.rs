//! A test report's page: the counts by status and the duration, then the test cases, failed
//! and erroneous ones first, filtered by status and keyword, a page at a time.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::report::{ReportRecord, ReportSummary, TestCase, TestCaseStatus};
use kiln_store::TestCaseQuery;

use super::{CASE_ORDER, ReportHead, ReportParams, SUMMARY_ORDER, store_error_page};
use crate::console::projects::Choice;
use crate::console::session::Session;
use crate::console::view::{self, Chrome};
use crate::state::AppState;

/// Test cases a page shows.
const PAGE_SIZE: u64 = 50;
/// Longest keyword searched for, in characters.
const MAX_KEYWORD_CHARS: usize = 200;

/// Where a page of cases starts: the place of a status in the page's order of statuses, and
/// the key (within that status) the page starts after. In the address as `2` or `2.173`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct CaseCursor {
    section: usize,
    after: Option<i64>,
}

impl CaseCursor {
    fn parse(text: &str) -> CaseCursor {
        let (section, after) = match text.split_once('.') {
            Some((section, after)) => (section, after.parse().ok()),
            None => (text, None),
        };
        match section.parse() {
            Ok(section) => CaseCursor { section, after },
            Err(_) => CaseCursor::default(),
        }
    }

    fn to_param(self) -> String {
        match self.after {
            Some(after) => format!("{}.{after}", self.section),
            None => self.section.to_string(),
        }
    }
}

fn status_named(name: &str) -> Option<TestCaseStatus> {
    CASE_ORDER.into_iter().find(|s| s.as_str() == name)
}

/// The statuses a page walks through, in order: the one asked for, else all of them.
fn statuses_of(filter: Option<TestCaseStatus>) -> Vec<TestCaseStatus> {
    filter.map_or_else(|| CASE_ORDER.to_vec(), |status| vec![status])
}

pub struct CaseRow {
    pub name: String,
    pub prefix: String,
    pub suite: String,
    pub status: String,
    pub status_class: &'static str,
    pub duration: String,
    pub message: String,
    /// The report file the case came from (`testRawDataPath`); empty when unknown.
    pub file: String,
}

impl CaseRow {
    fn of(case: &TestCase) -> CaseRow {
        CaseRow {
            name: case.name.clone(),
            prefix: case.prefix.clone(),
            suite: case.test_suite_name.clone().unwrap_or_default(),
            status: view::status_label(case.status.as_str()),
            status_class: case_class(case.status),
            duration: nanos_text(case.duration_in_nano_seconds),
            message: case.message.clone().unwrap_or_default(),
            file: case.test_raw_data_path.clone().unwrap_or_default(),
        }
    }
}

fn case_class(status: TestCaseStatus) -> &'static str {
    match status {
        TestCaseStatus::Succeeded => "ok",
        TestCaseStatus::Failed | TestCaseStatus::Error => "bad",
        TestCaseStatus::Skipped | TestCaseStatus::Unknown => "idle",
    }
}

/// `12 ms` below a second, else as build durations read.
fn nanos_text(nanos: u64) -> String {
    let millis = nanos / 1_000_000;
    if millis < 1000 {
        format!("{millis} ms")
    } else {
        view::format_duration(nanos as f64 / 1e9)
    }
}

#[derive(Template)]
#[template(path = "test_report.html")]
struct TestReportPage {
    chrome: Chrome,
    head: ReportHead,
    total: u64,
    counts: Vec<(String, u64)>,
    duration: String,
    statuses: Vec<Choice>,
    keyword: String,
    filtered: bool,
    cases: Vec<CaseRow>,
    first_url: String,
    next_url: String,
}

/// One page of cases from `cursor` on, with where the next page starts.
async fn read_cases(
    state: &AppState,
    account: &str,
    arn: &str,
    statuses: &[TestCaseStatus],
    keyword: Option<&str>,
    cursor: CaseCursor,
) -> Result<(Vec<TestCase>, Option<CaseCursor>), kiln_store::StoreError> {
    let mut cases = Vec::new();
    let mut after = cursor.after;
    for (section, status) in statuses.iter().enumerate().skip(cursor.section) {
        let remaining = PAGE_SIZE - cases.len() as u64;
        if remaining == 0 {
            return Ok((
                cases,
                Some(CaseCursor {
                    section,
                    after: None,
                }),
            ));
        }
        let query = TestCaseQuery {
            status: Some(*status),
            keyword,
        };
        let page = state
            .store
            .describe_test_cases(account, arn, &query, after.take(), remaining)
            .await?;
        cases.extend(page.items);
        if let Some(next) = page.next {
            let next = CaseCursor {
                section,
                after: Some(next),
            };
            return Ok((cases, Some(next)));
        }
    }
    Ok((cases, None))
}

fn page_url(head: &ReportHead, status: &str, keyword: &str, after: Option<CaseCursor>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !status.is_empty() {
        query.append_pair("status", status);
    }
    if !keyword.is_empty() {
        query.append_pair("q", keyword);
    }
    if let Some(after) = after {
        query.append_pair("after", &after.to_param());
    }
    let query = query.finish();
    if query.is_empty() {
        head.url.clone()
    } else {
        format!("{}?{query}", head.url)
    }
}

pub async fn page(
    state: &AppState,
    session: &Session,
    report: &ReportRecord,
    params: &ReportParams,
) -> Response {
    let ReportSummary::Test(summary) = &report.summary else {
        return view::not_found_page(Some(session), "Report not found", "");
    };
    let filter = status_named(&params.status);
    let status_param = filter.map_or("", |s| s.as_str());
    let keyword: String = params.q.trim().chars().take(MAX_KEYWORD_CHARS).collect();
    let cursor = CaseCursor::parse(&params.after);
    let statuses = statuses_of(filter);
    let read = read_cases(
        state,
        &session.caller.account_id,
        &report.arn,
        &statuses,
        (!keyword.is_empty()).then_some(keyword.as_str()),
        cursor,
    )
    .await;
    let (cases, next) = match read {
        Ok(read) => read,
        Err(kiln_store::StoreError::NotFound) => {
            return view::not_found_page(Some(session), "Report not found", "");
        }
        Err(err) => return store_error_page(session, &err),
    };
    let head = ReportHead::of(report);
    let mut statuses = vec![Choice {
        value: String::new(),
        label: "All statuses".to_string(),
        selected: filter.is_none(),
    }];
    statuses.extend(CASE_ORDER.iter().map(|s| Choice {
        value: s.as_str().to_string(),
        label: view::status_label(s.as_str()),
        selected: filter == Some(*s),
    }));
    let page = TestReportPage {
        chrome: session.chrome(),
        total: summary.total,
        counts: SUMMARY_ORDER
            .iter()
            .map(|s| {
                let count = summary.status_counts.get(s.as_str()).copied().unwrap_or(0);
                (view::status_label(s.as_str()), count)
            })
            .collect(),
        duration: nanos_text(summary.duration_in_nano_seconds),
        statuses,
        filtered: filter.is_some() || !keyword.is_empty(),
        cases: cases.iter().map(CaseRow::of).collect(),
        first_url: if params.after.is_empty() {
            String::new()
        } else {
            page_url(&head, status_param, &keyword, None)
        },
        next_url: next.map_or_else(String::new, |next| {
            page_url(&head, status_param, &keyword, Some(next))
        }),
        keyword,
        head,
    };
    view::render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::reports::tests::{case, record, tests};

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = CaseCursor {
            section: 2,
            after: Some(173),
        };
        assert_eq!(CaseCursor::parse(&c.to_param()), c);
        let start = CaseCursor {
            section: 1,
            after: None,
        };
        assert_eq!(CaseCursor::parse("1"), start);
        assert_eq!(CaseCursor::parse("x.5"), CaseCursor::default());
        assert_eq!(CaseCursor::parse(""), CaseCursor::default());
        assert_eq!(CaseCursor::parse("1.zz"), start);
    }

    #[test]
    fn failures_come_first_and_filters_narrow() {
        assert_eq!(
            statuses_of(None)[..2],
            [TestCaseStatus::Failed, TestCaseStatus::Error]
        );
        assert_eq!(
            statuses_of(status_named("SKIPPED")),
            [TestCaseStatus::Skipped]
        );
        assert_eq!(status_named("skipped"), None);
    }

    #[test]
    fn rows_show_messages_and_durations() {
        let mut failed = case("t<1>", TestCaseStatus::Error);
        failed.message = Some("boom\n  at <x>".into());
        failed.test_raw_data_path = Some("reports/junit.xml".into());
        let row = CaseRow::of(&failed);
        assert_eq!(row.status, "Error");
        assert_eq!(row.status_class, "bad");
        assert_eq!(row.duration, "2 ms");
        assert_eq!(row.message, "boom\n  at <x>");
        assert_eq!(row.file, "reports/junit.xml");
        assert_eq!(nanos_text(65_000_000_000), "1 min 5 s");
    }

    #[test]
    fn page_addresses_keep_the_filter() {
        let head = ReportHead::of(&record("u", tests(1, 0)));
        let next = CaseCursor {
            section: 0,
            after: Some(9),
        };
        assert_eq!(
            page_url(&head, "FAILED", "a b&c", Some(next)),
            "/report-groups/g/reports/u?status=FAILED&q=a+b%26c&after=0.9"
        );
        assert_eq!(page_url(&head, "", "", None), "/report-groups/g/reports/u");
    }
}
