//! A code coverage report's page: the totals, then line and branch coverage per file, ordered
//! by path or by line coverage, a page at a time.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use kiln_domain::report::{
    CodeCoverage, ReportCodeCoverageSortByType, ReportRecord, ReportSummary,
};
use kiln_store::{CoverageKey, CoverageQuery};

use super::{ReportHead, ReportParams, percent, store_error_page};
use crate::console::session::Session;
use crate::console::view::{self, Chrome};
use crate::state::AppState;

/// Files a page shows.
const PAGE_SIZE: u64 = 100;
/// Longest path kept from a page address, in bytes (a stored path is at most 1 KiB).
const MAX_PATH_PARAM: usize = 4096;

/// The order of the files, as the address gives it (`sort`, `order`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Order {
    sort: ReportCodeCoverageSortByType,
    ascending: bool,
}

impl Order {
    fn parse(sort: &str, order: &str) -> Order {
        let sort = match sort {
            "line" => ReportCodeCoverageSortByType::LineCoveragePercentage,
            _ => ReportCodeCoverageSortByType::FilePath,
        };
        Order {
            sort,
            ascending: order != "desc",
        }
    }

    fn sort_param(self) -> &'static str {
        match self.sort {
            ReportCodeCoverageSortByType::LineCoveragePercentage => "line",
            ReportCodeCoverageSortByType::FilePath => "path",
        }
    }

    fn order_param(self) -> &'static str {
        if self.ascending { "asc" } else { "desc" }
    }
}

/// The key a page starts after, from `after_n`, `after_path`, `after_line`; `None` when any is
/// missing or malformed (the first page).
fn parse_key(params: &ReportParams) -> Option<CoverageKey> {
    if params.after_path.len() > MAX_PATH_PARAM {
        return None;
    }
    let line_coverage: f64 = params.after_line.parse().ok()?;
    if !line_coverage.is_finite() {
        return None;
    }
    Some(CoverageKey {
        line_coverage,
        file_path: params.after_path.clone(),
        n: params.after_n.parse().ok()?,
    })
}

fn page_url(base: &str, order: Order, after: Option<&CoverageKey>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("sort", order.sort_param());
    query.append_pair("order", order.order_param());
    if let Some(key) = after {
        query.append_pair("after_n", &key.n.to_string());
        query.append_pair("after_path", &key.file_path);
        query.append_pair("after_line", &key.line_coverage.to_string());
    }
    format!("{base}?{}", query.finish())
}

pub struct FileRow {
    pub path: String,
    pub line_percent: String,
    pub lines_covered: u64,
    pub lines_missed: u64,
    pub branch_percent: String,
    pub branches_covered: u64,
    pub branches_missed: u64,
}

impl FileRow {
    fn of(file: &CodeCoverage) -> FileRow {
        FileRow {
            path: file.file_path.clone(),
            line_percent: format!("{}%", percent(file.line_coverage_percentage)),
            lines_covered: file.lines_covered,
            lines_missed: file.lines_missed,
            branch_percent: if file.branches_covered + file.branches_missed == 0 {
                "—".to_string()
            } else {
                format!("{}%", percent(file.branch_coverage_percentage))
            },
            branches_covered: file.branches_covered,
            branches_missed: file.branches_missed,
        }
    }
}

/// A sortable column's header link: the order it sets, and how the table is sorted now.
pub struct SortLink {
    pub url: String,
    /// `aria-sort` of the column: `ascending`, `descending` or `none`.
    pub aria_sort: &'static str,
}

fn sort_link(base: &str, current: Order, column: ReportCodeCoverageSortByType) -> SortLink {
    let sorted_here = current.sort == column;
    let next = Order {
        sort: column,
        // A second click turns the order around.
        ascending: !(sorted_here && current.ascending),
    };
    SortLink {
        url: page_url(base, next, None),
        aria_sort: match (sorted_here, current.ascending) {
            (false, _) => "none",
            (true, true) => "ascending",
            (true, false) => "descending",
        },
    }
}

#[derive(Template)]
#[template(path = "coverage_report.html")]
struct CoverageReportPage {
    chrome: Chrome,
    head: ReportHead,
    totals: FileRow,
    by_path: SortLink,
    by_line: SortLink,
    files: Vec<FileRow>,
    first_url: String,
    next_url: String,
}

pub async fn page(
    state: &AppState,
    session: &Session,
    report: &ReportRecord,
    params: &ReportParams,
) -> Response {
    let ReportSummary::CodeCoverage(summary) = &report.summary else {
        return view::not_found_page(Some(session), "Report not found", "");
    };
    let order = Order::parse(&params.sort, &params.order);
    let after = parse_key(params);
    let query = CoverageQuery {
        sort: order.sort,
        ascending: order.ascending,
        min_line_coverage: 0.0,
        max_line_coverage: 100.0,
    };
    let files = match state
        .store
        .describe_code_coverages(
            &session.caller.account_id,
            &report.arn,
            &query,
            after.as_ref(),
            PAGE_SIZE,
        )
        .await
    {
        Ok(files) => files,
        Err(kiln_store::StoreError::NotFound) => {
            return view::not_found_page(Some(session), "Report not found", "");
        }
        Err(err) => return store_error_page(session, &err),
    };
    let head = ReportHead::of(report);
    let totals = FileRow::of(&CodeCoverage {
        file_path: String::new(),
        line_coverage_percentage: summary.line_coverage_percentage,
        lines_covered: summary.lines_covered,
        lines_missed: summary.lines_missed,
        branch_coverage_percentage: summary.branch_coverage_percentage,
        branches_covered: summary.branches_covered,
        branches_missed: summary.branches_missed,
    });
    let page = CoverageReportPage {
        chrome: session.chrome(),
        totals,
        by_path: sort_link(&head.url, order, ReportCodeCoverageSortByType::FilePath),
        by_line: sort_link(
            &head.url,
            order,
            ReportCodeCoverageSortByType::LineCoveragePercentage,
        ),
        files: files.items.iter().map(|(_, f)| FileRow::of(f)).collect(),
        first_url: if after.is_some() {
            page_url(&head.url, order, None)
        } else {
            String::new()
        },
        next_url: files
            .next
            .as_ref()
            .map_or_else(String::new, |key| page_url(&head.url, order, Some(key))),
        head,
    };
    view::render(StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_come_from_the_address() {
        let order = Order::parse("line", "desc");
        assert_eq!(
            order.sort,
            ReportCodeCoverageSortByType::LineCoveragePercentage
        );
        assert!(!order.ascending);
        let default = Order::parse("<junk>", "");
        assert_eq!(default.sort, ReportCodeCoverageSortByType::FilePath);
        assert!(default.ascending);
    }

    #[test]
    fn page_keys_round_trip_through_the_address() {
        let key = CoverageKey {
            line_coverage: 87.5,
            file_path: "src/a b&c.rs".into(),
            n: 4,
        };
        let url = page_url("/r", Order::parse("line", "asc"), Some(&key));
        assert_eq!(
            url,
            "/r?sort=line&order=asc&after_n=4&after_path=src%2Fa+b%26c.rs&after_line=87.5"
        );
        let params: ReportParams = serde_html_form::from_str(&url[3..]).unwrap();
        assert_eq!(parse_key(&params), Some(key));
        let junk: ReportParams = serde_html_form::from_str("after_n=x&after_line=NaN").unwrap();
        assert_eq!(parse_key(&junk), None);
    }

    #[test]
    fn sort_links_turn_the_order_around() {
        let current = Order::parse("path", "asc");
        let by_path = sort_link("/r", current, ReportCodeCoverageSortByType::FilePath);
        assert_eq!(by_path.aria_sort, "ascending");
        assert_eq!(by_path.url, "/r?sort=path&order=desc");
        let by_line = sort_link(
            "/r",
            current,
            ReportCodeCoverageSortByType::LineCoveragePercentage,
        );
        assert_eq!(by_line.aria_sort, "none");
        assert_eq!(by_line.url, "/r?sort=line&order=asc");
    }

    #[test]
    fn files_without_branches_say_so() {
        let row = FileRow::of(&CodeCoverage {
            file_path: "a.rs".into(),
            line_coverage_percentage: 87.5,
            lines_covered: 7,
            lines_missed: 1,
            branch_coverage_percentage: 0.0,
            branches_covered: 0,
            branches_missed: 0,
        });
        assert_eq!(row.line_percent, "87.5%");
        assert_eq!(row.branch_percent, "—");
    }
}
