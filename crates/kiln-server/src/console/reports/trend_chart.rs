//! A report group's trend as a line chart (console/chart.rs): one value per report, oldest on
//! the left.

use kiln_domain::report::{ReportRecord, TrendField, trend};

use crate::console::chart::{Axes, LEFT, PLOT_WIDTH, coordinate};
use crate::console::view;

/// One report's value, where it is drawn, and what it reads as.
pub struct ChartPoint {
    pub x: String,
    pub y: String,
    pub value: String,
    /// When the report was made.
    pub label: String,
    pub url: String,
}

pub struct TrendChart {
    /// Unique on its page, for the `<title>` and `<desc>` ids.
    pub id: &'static str,
    pub title: &'static str,
    pub desc: String,
    pub points: Vec<ChartPoint>,
    /// The line through the points (`x,y x,y …`).
    pub line: String,
    pub axes: Axes,
}

/// What a chart shows: the trend field, how its values read, and the top of the scale
/// (`None`: the largest value).
pub struct ChartSpec {
    pub id: &'static str,
    pub title: &'static str,
    pub field: TrendField,
    pub unit: &'static str,
    pub fixed_max: Option<f64>,
}

pub const PASS_RATE: ChartSpec = ChartSpec {
    id: "pass-rate",
    title: "Pass rate",
    field: TrendField::PassRate,
    unit: "%",
    fixed_max: Some(100.0),
};
pub const DURATION: ChartSpec = ChartSpec {
    id: "duration",
    title: "Duration",
    field: TrendField::Duration,
    unit: " ms",
    fixed_max: None,
};
pub const LINE_COVERAGE: ChartSpec = ChartSpec {
    id: "line-coverage",
    title: "Line coverage",
    field: TrendField::LineCoverage,
    unit: "%",
    fixed_max: Some(100.0),
};

/// The chart of `spec` over `reports` (newest first, as the store gives a group's trend);
/// `None` when no report has the field.
pub fn chart(spec: &ChartSpec, reports: &[ReportRecord]) -> Option<TrendChart> {
    let trend = trend(spec.field, reports);
    let mut values: Vec<(&ReportRecord, f64, String)> = trend["rawData"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|raw| {
            let arn = raw["reportArn"].as_str()?;
            let text = raw["data"].as_str()?;
            let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite())?;
            let report = reports.iter().find(|r| r.arn == arn)?;
            Some((report, value, text.to_string()))
        })
        .collect();
    if values.is_empty() {
        return None;
    }
    values.reverse();
    let largest = values.iter().map(|(_, v, _)| *v).fold(0.0, f64::max);
    let top = spec.fixed_max.unwrap_or(largest).max(largest);
    let top = if top > 0.0 { top } else { 1.0 };
    let axes = Axes::new(top, format!("{}{}", super::percent(top), spec.unit));
    let step = if values.len() > 1 {
        PLOT_WIDTH / (values.len() - 1) as f64
    } else {
        0.0
    };
    let points: Vec<ChartPoint> = values
        .iter()
        .enumerate()
        .map(|(i, (report, value, text))| {
            let x = if values.len() > 1 {
                LEFT + step * i as f64
            } else {
                LEFT + PLOT_WIDTH / 2.0
            };
            let (_, y) = axes.place(*value);
            ChartPoint {
                x: coordinate(x),
                y: coordinate(y),
                value: format!("{text}{}", spec.unit),
                label: view::format_time(report.created),
                url: super::report_url(report),
            }
        })
        .collect();
    let line = points
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    let stats = &trend["stats"];
    let listed = points
        .iter()
        .map(|p| p.value.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let desc = format!(
        "{} of the last {} reports, oldest first: {listed}. Average {}{unit}, minimum {}{unit}, maximum {}{unit}.",
        spec.title,
        points.len(),
        stats["average"].as_str().unwrap_or_default(),
        stats["min"].as_str().unwrap_or_default(),
        stats["max"].as_str().unwrap_or_default(),
        unit = spec.unit,
    );
    Some(TrendChart {
        id: spec.id,
        title: spec.title,
        desc,
        line,
        axes,
        points,
    })
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::*;
    use crate::console::reports::tests::{coverage, record, tests};

    #[derive(Template)]
    #[template(path = "trend_chart.html")]
    struct ChartOnly<'a> {
        chart: &'a TrendChart,
    }

    #[test]
    fn values_become_points_oldest_on_the_left() {
        // Newest first, as the store gives them.
        let reports = [record("b", tests(1, 0)), record("a", tests(1, 1))];
        let chart = chart(&PASS_RATE, &reports).unwrap();
        assert_eq!(chart.points.len(), 2);
        assert_eq!(chart.points[0].value, "50%");
        assert_eq!(chart.points[0].url, "/report-groups/g/reports/a");
        assert_eq!(
            (chart.points[0].x.as_str(), chart.points[0].y.as_str()),
            ("56.0", "96.0")
        );
        assert_eq!(
            (chart.points[1].x.as_str(), chart.points[1].y.as_str()),
            ("624.0", "16.0")
        );
        assert_eq!(chart.line, "56.0,96.0 624.0,16.0");
        assert_eq!(chart.axes.top_label, "100%");
        assert!(
            chart.desc.contains("oldest first: 50%, 100%"),
            "{}",
            chart.desc
        );
        assert!(chart.desc.contains("Average 75%"), "{}", chart.desc);
    }

    #[test]
    fn a_free_scale_tops_at_the_largest_value() {
        let reports = [record("a", tests(1, 0))];
        let chart = chart(&DURATION, &reports).unwrap();
        // One report: in the middle, at the top of its own scale.
        assert_eq!(chart.points[0].x, "340.0");
        assert_eq!(chart.points[0].y, "16.0");
        assert_eq!(chart.points[0].value, "2 ms");
    }

    #[test]
    fn no_values_no_chart() {
        assert!(chart(&PASS_RATE, &[]).is_none());
        assert!(chart(&PASS_RATE, &[record("a", coverage(1, 1))]).is_none());
        let zero = chart(&LINE_COVERAGE, &[record("a", coverage(0, 4))]).unwrap();
        assert_eq!(zero.points[0].y, "176.0");
    }

    #[test]
    fn the_svg_is_labelled_and_escaped() {
        let mut chart = chart(&LINE_COVERAGE, &[record("a", coverage(3, 1))]).unwrap();
        chart.desc = "<script>alert(1)</script>".into();
        chart.points[0].label = "\"><b>".into();
        let svg = ChartOnly { chart: &chart }.render().unwrap();
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(
            svg.contains("aria-labelledby=\"chart-line-coverage-title chart-line-coverage-desc\"")
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&#60;script&#62;"), "{svg}");
        assert!(!svg.contains("\"><b>"), "{svg}");
        assert!(svg.contains("points=\"340.0,56.0\""), "{svg}");
    }
}
