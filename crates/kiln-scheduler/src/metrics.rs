//! What the scheduler counts for `/metrics` (`docs/metrics.md`): builds ended, by status, and
//! how long each phase took (QUEUED's duration is the build's wait in the queue), observed by
//! the replica that ended the build, so that summing over replicas counts each build once.

use kiln_domain::build::BuildRecord;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Phase durations in seconds: from a tenth of a second to eight hours (the longest timeout).
const PHASE_BUCKETS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 28800.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
}

fn phase_histogram() -> Histogram {
    Histogram::new(PHASE_BUCKETS)
}

pub struct BuildMetrics {
    ended: Family<StatusLabel, Counter>,
    phase_seconds: Family<PhaseLabel, Histogram, fn() -> Histogram>,
}

impl Default for BuildMetrics {
    fn default() -> Self {
        BuildMetrics {
            ended: Family::default(),
            phase_seconds: Family::new_with_constructor(phase_histogram),
        }
    }
}

impl BuildMetrics {
    /// Adds the scheduler's metrics to `registry` (they share their values with `self`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kiln_builds_ended",
            "Builds this replica ended, by final status",
            self.ended.clone(),
        );
        registry.register(
            "kiln_build_phase_duration_seconds",
            "How long each phase of the builds this replica ended took (QUEUED: the wait in the queue)",
            self.phase_seconds.clone(),
        );
    }

    /// Counts a build this replica just ended.
    pub fn ended(&self, build: &BuildRecord) {
        if !build.is_complete() {
            return;
        }
        self.ended
            .get_or_create(&StatusLabel {
                status: build.status.as_str(),
            })
            .inc();
        for phase in &build.phases {
            if let Some(end) = phase.end_time {
                self.phase_seconds
                    .get_or_create(&PhaseLabel {
                        phase: phase.phase_type.as_str(),
                    })
                    .observe((end - phase.start_time).max(0.0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    use super::BuildMetrics;

    #[test]
    fn ended_builds_count_by_status_and_phase() {
        let metrics = BuildMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut build =
            kiln_store_conformance::fixtures::queued_build("111122223333", "p", 1, None);
        metrics.ended(&build);
        build.status = kiln_domain::build::BuildStatus::Failed;
        for phase in &mut build.phases {
            phase.end_time = Some(phase.start_time + 2.0);
        }
        build.current_phase = kiln_domain::build::PhaseType::Completed;
        metrics.ended(&build);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("kiln_builds_ended_total{status=\"FAILED\"} 1"),
            "{text}"
        );
        assert!(!text.contains("IN_PROGRESS"), "{text}");
        assert!(
            text.contains("kiln_build_phase_duration_seconds_sum{phase=\"QUEUED\"} 2.0"),
            "{text}"
        );
    }
}
