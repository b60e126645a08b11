//! A project's recent builds as a bar chart (console/chart.rs): one bar per build, oldest on
//! the left, as tall as the build took (so far, while it runs) and coloured by its outcome.

use kiln_domain::build::BuildRecord;

use super::chart::{Axes, LEFT, PLOT_WIDTH, coordinate};
use super::history;
use super::view;

/// Builds the chart shows.
pub const CHART_LEN: usize = 50;
/// Fewer builds than this still get bars this narrow, not a few wide slabs.
const MIN_SLOTS: usize = 20;
/// The least height of a bar, so a build of no time still shows.
const MIN_BAR: f64 = 2.0;

pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    /// The status pill's class: the bar's colour.
    pub class: &'static str,
    pub number: i64,
    pub status: String,
    pub duration: String,
    pub url: String,
}

pub struct DurationChart {
    /// Unique on its page, for the `<title>` and `<desc>` ids.
    pub id: &'static str,
    pub title: &'static str,
    pub desc: String,
    pub axes: Axes,
    pub bars: Vec<Bar>,
}

/// The chart of `builds` (newest first, as a history lists them; at most [`CHART_LEN`] are
/// drawn) whose pages are under `builds_url`, drawn at `now`; `None` without builds.
pub fn durations(builds: &[BuildRecord], builds_url: &str, now: f64) -> Option<DurationChart> {
    let shown: Vec<&BuildRecord> = builds.iter().take(CHART_LEN).rev().collect();
    if shown.is_empty() {
        return None;
    }
    let seconds = |b: &BuildRecord| (b.end_time.unwrap_or(now) - b.start_time).max(0.0);
    let longest = shown.iter().map(|b| seconds(b)).fold(0.0, f64::max);
    let axes = Axes::new(longest, view::format_duration(longest));
    let slot = PLOT_WIDTH / shown.len().max(MIN_SLOTS) as f64;
    let bars: Vec<Bar> = shown
        .iter()
        .enumerate()
        .map(|(i, build)| {
            let (height, y) = axes.place(seconds(build));
            let height = height.max(MIN_BAR);
            let status = build.status.as_str();
            Bar {
                x: coordinate(LEFT + slot * (i as f64 + 0.15)),
                y: coordinate(y.min(axes.place(0.0).1 - MIN_BAR)),
                width: coordinate(slot * 0.7),
                height: coordinate(height),
                class: view::status_class(status),
                number: build.build_number,
                status: view::status_label(status),
                duration: history::duration(build, now),
                url: format!("{builds_url}/{}", build.uuid),
            }
        })
        .collect();
    let listed = bars
        .iter()
        .map(|b| format!("#{} {} {}", b.number, b.status.to_lowercase(), b.duration))
        .collect::<Vec<_>>()
        .join(", ");
    Some(DurationChart {
        id: "durations",
        title: "Build durations",
        desc: format!(
            "Durations of the last {} builds, oldest first: {listed}.",
            bars.len()
        ),
        axes,
        bars,
    })
}

#[cfg(test)]
mod tests {
    use askama::Template;
    use kiln_domain::build::BuildStatus;

    use super::*;
    use crate::console::history::tests::build;

    #[derive(Template)]
    #[template(path = "build_chart.html")]
    struct ChartOnly<'a> {
        chart: &'a DurationChart,
    }

    #[test]
    fn one_bar_per_build_oldest_on_the_left_coloured_by_outcome() {
        // Newest first, as a history lists them: #3 runs, #2 failed after 60 s, #1 passed in 30 s.
        let builds = [
            build(3, BuildStatus::InProgress, None),
            build(2, BuildStatus::Failed, Some(160.0)),
            build(1, BuildStatus::Succeeded, Some(130.0)),
        ];
        let chart = durations(&builds, "/projects/p/builds", 145.0).unwrap();
        let numbers: Vec<i64> = chart.bars.iter().map(|b| b.number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        let classes: Vec<&str> = chart.bars.iter().map(|b| b.class).collect();
        assert_eq!(classes, ["ok", "bad", "busy"]);
        // The longest build (60 s) reaches the top; one of half as long half as high.
        assert_eq!(chart.bars[1].y, "16.0");
        assert_eq!(chart.bars[1].height, "160.0");
        assert_eq!(chart.bars[0].height, "80.0");
        assert_eq!(chart.axes.top_label, "1 min 0 s");
        assert_eq!(chart.bars[2].duration, "45 s so far");
        assert_eq!(chart.bars[0].url, "/projects/p/builds/u1");
        assert!(
            chart
                .desc
                .contains("oldest first: #1 succeeded 30 s, #2 failed 1 min 0 s"),
            "{}",
            chart.desc
        );
    }

    #[test]
    fn at_most_the_chart_length_and_none_without_builds() {
        assert!(durations(&[], "/b", 0.0).is_none());
        let many: Vec<BuildRecord> = (1..=60)
            .rev()
            .map(|n| build(n, BuildStatus::Succeeded, Some(100.0)))
            .collect();
        let chart = durations(&many, "/b", 0.0).unwrap();
        assert_eq!(chart.bars.len(), CHART_LEN);
        assert_eq!(chart.bars[0].number, 11);
        // Builds of no time still show as a thin bar on the axis.
        assert_eq!(chart.bars[0].height, "2.0");
        assert_eq!(chart.bars[0].y, "174.0");
    }

    #[test]
    fn the_svg_is_labelled_and_escaped() {
        let mut chart =
            durations(&[build(1, BuildStatus::Failed, Some(110.0))], "/b", 0.0).unwrap();
        chart.desc = "<script>alert(1)</script>".into();
        let svg = ChartOnly { chart: &chart }.render().unwrap();
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(svg.contains("aria-labelledby=\"chart-durations-title chart-durations-desc\""));
        assert!(!svg.contains("<script>"), "{svg}");
        assert_eq!(svg.matches("<rect class=\"bar bad\"").count(), 1, "{svg}");
    }
}
