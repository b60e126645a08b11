//! Report badges: `/badges?uuid=…&report=tests|coverage[&group=…]` shows what the reports of
//! the latest completed build on the branch or tag say ("tests | 120 passed, 2 failed",
//! "coverage | 87%"), summed over the build's reports of that type or of one group.
//!
//! They follow the build badge's no-stale rule with its machinery: a report is visible to the
//! store's lookup only once its build is complete, and a build's completion is a change of its
//! project's `BadgeEpoch` shard, so a value is cached per (token, ref, kind, group) under that
//! shard's generation, and on a miss the requests for one badge share a read that began after
//! they arrived.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::http::HeaderMap;
use axum::response::Response;
use kiln_badge::{ReportBadge, Style, TestCounts};
use kiln_domain::badge_epoch::Shard;
use kiln_domain::refs::GitRef;
use kiln_domain::report::{
    ReportRecord, ReportSummary, TestCaseStatus, group_name_from_arn, validate_group_name,
};
use kiln_domain::token;
use kiln_domain::validate::Violations;
use kiln_store::{BranchReports, StoreError};

use super::project::{BadgeProject, FactsCell, project_facts};
use super::query::{BadgeQuery, RefQuery, ReportKind, ReportQuery};
use super::response::{Rendered, STYLE_VARIANTS, respond, style_index};
use super::slots::{SharedRead, Slots, settle};
use crate::state::AppState;

/// A report badge's value and its images with the default label, rendered on first use.
pub(super) struct ReportImages {
    badge: ReportBadge,
    default_label: [OnceLock<Rendered>; STYLE_VARIANTS],
}

impl ReportImages {
    fn new(badge: ReportBadge) -> Arc<ReportImages> {
        Arc::new(ReportImages {
            badge,
            default_label: std::array::from_fn(|_| OnceLock::new()),
        })
    }

    fn default_label(&self, kind: ReportKind, style: Style, json: bool) -> &Rendered {
        let index = style_index(style, json);
        // `index` is in range by construction; the fallback keeps this total.
        let slot = self
            .default_label
            .get(index)
            .unwrap_or(&self.default_label[0]);
        slot.get_or_init(|| Rendered::report(&self.badge, style, kind.label(), json))
    }
}

/// One report badge (token, ref, kind, group): its cached value and the lock that lets
/// requests share a read.
pub(super) struct ReportSlot {
    git_ref: Option<GitRef>,
    kind: ReportKind,
    group: Option<Box<str>>,
    /// The shard of the token's project, once a read found it.
    shard: OnceLock<Shard>,
    facts: FactsCell,
    cached: Mutex<Option<(u64, Arc<ReportImages>)>>,
    last_read: SharedRead<Arc<ReportImages>>,
}

impl ReportSlot {
    fn new(git_ref: Option<&RefQuery<'_>>, report: &ReportQuery<'_>) -> ReportSlot {
        ReportSlot {
            git_ref: git_ref.map(RefQuery::to_git_ref),
            kind: report.kind,
            group: report.group.as_deref().map(Box::from),
            shard: OnceLock::new(),
            facts: FactsCell::default(),
            cached: Mutex::new(None),
            last_read: SharedRead::default(),
        }
    }

    fn is_for(&self, git_ref: Option<&RefQuery<'_>>, report: &ReportQuery<'_>) -> bool {
        let same_ref = match (&self.git_ref, git_ref) {
            (None, None) => true,
            (Some(cached), Some(asked)) => asked.matches(cached),
            _ => false,
        };
        same_ref && self.kind == report.kind && self.group.as_deref() == report.group.as_deref()
    }

    fn cached(&self, generation: u64) -> Option<Arc<ReportImages>> {
        match &*self.cached.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((g, images)) if *g == generation => Some(Arc::clone(images)),
            _ => None,
        }
    }

    fn remember(&self, generation: u64, images: &Arc<ReportImages>) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, Arc::clone(images)));
    }
}

/// Report badge slots, and the unknown badge of each kind.
pub(super) struct ReportCache {
    slots: Slots<ReportSlot>,
    unknown_tests: Arc<ReportImages>,
    unknown_coverage: Arc<ReportImages>,
}

impl Default for ReportCache {
    fn default() -> Self {
        ReportCache {
            slots: Slots::default(),
            unknown_tests: ReportImages::new(ReportBadge::Unknown),
            unknown_coverage: ReportImages::new(ReportBadge::Unknown),
        }
    }
}

impl ReportCache {
    fn unknown(&self, kind: ReportKind) -> Arc<ReportImages> {
        Arc::clone(match kind {
            ReportKind::Tests => &self.unknown_tests,
            ReportKind::Coverage => &self.unknown_coverage,
        })
    }
}

/// The answer to a report badge query.
pub(super) async fn respond_report(
    state: &AppState,
    q: &BadgeQuery<'_>,
    report: &ReportQuery<'_>,
    request_headers: &HeaderMap,
) -> Response {
    let images = current_report(state, q, report).await;
    match q.label.as_deref() {
        None => respond(
            images.default_label(report.kind, q.style, q.json),
            q.json,
            request_headers,
        ),
        // Custom labels are rendered per request: report values are too many to keep images
        // of each label for.
        Some(label) => respond(
            &Rendered::report(&images.badge, q.style, label, q.json),
            q.json,
            request_headers,
        ),
    }
}

/// The report badge as of this request's arrival, or later.
async fn current_report(
    state: &AppState,
    q: &BadgeQuery<'_>,
    report: &ReportQuery<'_>,
) -> Arc<ReportImages> {
    let cache = &state.badge_cache;
    let Some(token) = q.token.as_deref().filter(|t| token::is_well_formed(t)) else {
        return cache.reports.unknown(report.kind);
    };
    let git_ref = q.git_ref.as_ref();
    let slot = cache.reports.slots.get(
        token,
        |slot| slot.is_for(git_ref, report),
        || ReportSlot::new(git_ref, report),
    );
    let shard = slot.shard.get().copied();
    if let Some(g) = state.badge_epoch.stable_generation(shard)
        && let Some(images) = slot.cached(g)
    {
        return images;
    }
    // Taken after the request started, so any read begun later began after the request did.
    let arrival = cache.ticks.next();
    let read = async {
        let generation = state.badge_epoch.stable_generation(shard);
        match lookup_report(state, &slot, token).await {
            Ok((found, badge)) => {
                let images = ReportImages::new(badge);
                settle(&slot.shard, shard, found, generation, |g| {
                    slot.remember(g, &images)
                });
                images
            }
            Err(e) => {
                // Shown as unknown, like any badge Kiln cannot vouch for, but never cached.
                tracing::error!(error = %e, "report badge lookup failed");
                cache.reports.unknown(slot.kind)
            }
        }
    };
    slot.last_read.after(&cache.ticks, arrival, read).await
}

/// The badge for a well-formed token, straight from the store (but for the project's facts),
/// and the shard of its project when there is one.
async fn lookup_report(
    state: &AppState,
    slot: &ReportSlot,
    token: &str,
) -> Result<(Option<Shard>, ReportBadge), StoreError> {
    let facts = project_facts(state, &slot.facts, token).await?;
    let Some(project) = &facts.project else {
        return Ok((None, ReportBadge::Unknown));
    };
    let shard = Some(project.shard());
    if !project.badge_enabled {
        return Ok((shard, ReportBadge::Unknown));
    }
    let group_name = match slot.group.as_deref() {
        None => None,
        Some(asked) => match group_name(&state.region, project, asked) {
            Some(name) => Some(name),
            None => return Ok((shard, ReportBadge::Unknown)),
        },
    };
    let Some(git_ref) = project.badge_ref(state, slot.git_ref.as_ref()).await? else {
        return Ok((shard, ReportBadge::Unknown));
    };
    let reports = state
        .store
        .latest_reports_for_ref(&BranchReports {
            account_id: &project.account_id,
            project_name: &project.name,
            git_ref: &git_ref,
            report_type: slot.kind.report_type(),
            group_name: group_name.as_deref(),
        })
        .await?;
    Ok((shard, summarize(slot.kind, &reports)))
}

/// The report group `group=` names, as the buildspec's `reports:` section names one: a name
/// is the project's group `<project>-<name>`, an ARN names the group of the project's account
/// (and this region). `None` when that is no valid group name.
fn group_name(region: &str, project: &BadgeProject, asked: &str) -> Option<String> {
    let name = if asked.starts_with("arn:") {
        group_name_from_arn(region, &project.account_id, asked)?.to_owned()
    } else {
        format!("{}-{asked}", project.name)
    };
    let mut violations = Violations::new();
    validate_group_name(&mut violations, "group", &name);
    violations.is_empty().then_some(name)
}

/// What a build's reports of one kind add up to; unknown when there are none.
fn summarize(kind: ReportKind, reports: &[ReportRecord]) -> ReportBadge {
    if reports.is_empty() {
        return ReportBadge::Unknown;
    }
    match kind {
        ReportKind::Tests => {
            let mut counts = TestCounts::default();
            for report in reports {
                if let ReportSummary::Test(summary) = &report.summary {
                    let count = |status: TestCaseStatus| {
                        summary
                            .status_counts
                            .get(status.as_str())
                            .copied()
                            .unwrap_or(0)
                    };
                    counts.passed = counts
                        .passed
                        .saturating_add(count(TestCaseStatus::Succeeded));
                    counts.failed = counts
                        .failed
                        .saturating_add(count(TestCaseStatus::Failed))
                        .saturating_add(count(TestCaseStatus::Error));
                    counts.skipped = counts
                        .skipped
                        .saturating_add(count(TestCaseStatus::Skipped));
                    counts.total = counts.total.saturating_add(summary.total);
                }
            }
            ReportBadge::Tests(counts)
        }
        ReportKind::Coverage => {
            let (mut covered, mut missed) = (0u64, 0u64);
            for report in reports {
                if let ReportSummary::CodeCoverage(summary) = &report.summary {
                    covered = covered.saturating_add(summary.lines_covered);
                    missed = missed.saturating_add(summary.lines_missed);
                }
            }
            let lines = covered.saturating_add(missed);
            // As the summaries: 0 when there is nothing to cover.
            let percent = if lines == 0 {
                0.0
            } else {
                covered as f64 * 100.0 / lines as f64
            };
            ReportBadge::Coverage(percent)
        }
    }
}

#[cfg(test)]
mod tests {
    use kiln_domain::report::{
        CodeCoverage, CodeCoverageReportSummary, ReportExportConfig, ReportStatusType, TestCase,
        TestReportSummary,
    };

    use super::*;

    fn report(summary: ReportSummary) -> ReportRecord {
        ReportRecord {
            arn: "arn".into(),
            account_id: "1".into(),
            group_name: "app-unit".into(),
            group_arn: "garn".into(),
            name: "app-unit".into(),
            execution_id: "build".into(),
            build_uuid: "u".into(),
            project_name: "app".into(),
            git_ref: Some(GitRef::Branch("main".into())),
            build_start_time: 1.0,
            status: ReportStatusType::Succeeded,
            created: 1.0,
            truncated: false,
            export_config: ReportExportConfig::no_export(),
            summary,
        }
    }

    fn tests(statuses: &[TestCaseStatus]) -> ReportRecord {
        let cases: Vec<TestCase> = statuses
            .iter()
            .map(|status| TestCase {
                prefix: "p".into(),
                name: "n".into(),
                status: *status,
                duration_in_nano_seconds: 1,
                message: None,
                test_suite_name: None,
                test_raw_data_path: None,
            })
            .collect();
        report(ReportSummary::Test(TestReportSummary::of(&cases)))
    }

    fn coverage(lines_covered: u64, lines_missed: u64) -> ReportRecord {
        report(ReportSummary::CodeCoverage(CodeCoverageReportSummary::of(
            &[CodeCoverage {
                file_path: "a.rs".into(),
                line_coverage_percentage: 0.0,
                lines_covered,
                lines_missed,
                branch_coverage_percentage: 0.0,
                branches_covered: 0,
                branches_missed: 0,
            }],
        )))
    }

    #[test]
    fn test_reports_add_up_errors_as_failures() {
        use TestCaseStatus::*;
        let reports = [
            tests(&[Succeeded, Succeeded, Failed, Skipped]),
            tests(&[Succeeded, Error, Unknown]),
        ];
        assert_eq!(
            summarize(ReportKind::Tests, &reports),
            ReportBadge::Tests(TestCounts {
                passed: 3,
                failed: 2,
                skipped: 1,
                total: 7,
            })
        );
        assert_eq!(summarize(ReportKind::Tests, &[]), ReportBadge::Unknown);
    }

    #[test]
    fn coverage_adds_up_lines_before_the_percentage() {
        // 90 of 100 and 0 of 900: 9 %, not the mean of 90 % and 0 %.
        let reports = [coverage(90, 10), coverage(0, 900)];
        let badge = summarize(ReportKind::Coverage, &reports);
        assert_eq!(badge, ReportBadge::Coverage(9.0));
        assert_eq!(badge.message(), "9%");
        assert_eq!(
            summarize(ReportKind::Coverage, &[coverage(87, 13)]).message(),
            "87%"
        );
        assert_eq!(
            summarize(ReportKind::Coverage, &[coverage(0, 0)]),
            ReportBadge::Coverage(0.0)
        );
        assert_eq!(summarize(ReportKind::Coverage, &[]), ReportBadge::Unknown);
    }

    #[test]
    fn group_names_are_the_buildspecs() {
        let project = BadgeProject {
            account_id: "111122223333".into(),
            name: "app".into(),
            badge_enabled: true,
            source_epoch: 0,
            default_branch: None,
        };
        let region = "us-east-1";
        assert_eq!(
            group_name(region, &project, "unit").as_deref(),
            Some("app-unit")
        );
        let arn = "arn:aws:codebuild:us-east-1:111122223333:report-group/shared";
        assert_eq!(group_name(region, &project, arn).as_deref(), Some("shared"));
        for not_a_group in [
            "arn:aws:codebuild:us-east-1:999999999999:report-group/shared",
            "arn:aws:codebuild:eu-west-1:111122223333:report-group/shared",
            "arn:aws:codebuild:us-east-1:111122223333:report-group/a/b",
            "a b",
            "x/../y",
            &"x".repeat(200),
        ] {
            assert_eq!(
                group_name(region, &project, not_a_group),
                None,
                "{not_a_group}"
            );
        }
    }

    #[test]
    fn slots_are_per_ref_kind_and_group_and_cache_per_generation() {
        let cache = ReportCache::default();
        let main = RefQuery::Branch("main".into());
        let tests = ReportQuery {
            kind: ReportKind::Tests,
            group: None,
        };
        let slot_for = |git_ref: Option<&RefQuery<'_>>, report: &ReportQuery<'_>| {
            cache.slots.get(
                "tok",
                |slot| slot.is_for(git_ref, report),
                || ReportSlot::new(git_ref, report),
            )
        };
        let slot = slot_for(Some(&main), &tests);
        assert!(Arc::ptr_eq(&slot, &slot_for(Some(&main), &tests)));
        let unit = ReportQuery {
            group: Some("unit".into()),
            ..tests.clone()
        };
        let coverage = ReportQuery {
            kind: ReportKind::Coverage,
            group: None,
        };
        for (git_ref, report) in [
            (Some(&main), &unit),
            (Some(&main), &coverage),
            (None, &tests),
            (Some(&RefQuery::Tag("main".into())), &tests),
        ] {
            assert!(!Arc::ptr_eq(&slot, &slot_for(git_ref, report)));
        }
        assert!(slot.cached(0).is_none());
        let images = ReportImages::new(ReportBadge::Coverage(50.0));
        slot.remember(2, &images);
        assert!(Arc::ptr_eq(&slot.cached(2).unwrap(), &images));
        assert!(slot.cached(3).is_none());
    }

    #[test]
    fn images_with_the_default_label_are_rendered_once() {
        let images = ReportImages::new(ReportBadge::Coverage(87.5));
        let a = images.default_label(ReportKind::Coverage, Style::Flat, false);
        assert!(std::ptr::eq(
            a,
            images.default_label(ReportKind::Coverage, Style::Flat, false)
        ));
        let svg = std::str::from_utf8(&a.body).unwrap();
        assert!(svg.contains("aria-label=\"coverage: 87%\""), "{svg}");
        let social = images.default_label(ReportKind::Coverage, Style::Social, true);
        assert_ne!(a.etag, social.etag);
    }
}
