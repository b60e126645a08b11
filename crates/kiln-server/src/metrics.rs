//! `/metrics` in the Prometheus (OpenMetrics) text format, served on the address the operator
//! chooses (`--metrics-listen`), never on the public port (`docs/metrics.md`).
//!
//! Counters and histograms count what this replica served or ended; the queue gauges come from
//! the store, so every replica reports the same queue. Labels take only values Kiln chose (an
//! operation label only once the operation was found, for a signed caller), so no request can
//! grow the series without bound.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kiln_domain::ErrorKind;
use kiln_scheduler::BuildMetrics;
use kiln_store::{QueueGauges, Store};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::service::Service;
use crate::state::AppState;

/// API latencies in seconds, from a millisecond to ten seconds.
const API_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    service: &'static str,
    operation: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

fn api_histogram() -> Histogram {
    Histogram::new(API_BUCKETS)
}

/// How a badge request found its status.
#[derive(Debug, Clone, Copy)]
pub enum BadgeLookup {
    /// From the cache.
    Cached,
    /// From the store.
    Read,
    /// The query named no badge.
    Unknown,
}

pub struct Metrics {
    registry: Registry,
    api_seconds: Family<ApiLabels, Histogram, fn() -> Histogram>,
    // Plain counters, not a family: the badge hot path increments without a lookup.
    badge_cached: Counter,
    badge_read: Counter,
    badge_unknown: Counter,
    webhooks: Family<OutcomeLabel, Counter>,
    queued: Gauge,
    running: Gauge,
    oldest_wait: Gauge<f64, AtomicU64>,
}

impl Metrics {
    /// Every metric, the scheduler's `builds` included.
    pub fn new(builds: &BuildMetrics) -> Self {
        let mut registry = Registry::default();
        builds.register(&mut registry);
        let api_seconds = Family::new_with_constructor(api_histogram as fn() -> Histogram);
        registry.register(
            "kiln_api_request_duration_seconds",
            "API calls this replica answered, by service, operation and outcome",
            api_seconds.clone(),
        );
        let badges = Family::<OutcomeLabel, Counter>::default();
        let badge = |outcome| badges.get_or_create(&OutcomeLabel { outcome }).clone();
        let (badge_cached, badge_read, badge_unknown) =
            (badge("cached"), badge("read"), badge("unknown"));
        registry.register(
            "kiln_badge_requests",
            "Build badge requests this replica answered, by where the status came from (cached: a cache hit)",
            badges,
        );
        let webhooks = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "kiln_webhook_deliveries",
            "Webhook deliveries this replica received, by outcome (BUILT, FILTERED, REFUSED)",
            webhooks.clone(),
        );
        let queued = Gauge::default();
        registry.register(
            "kiln_builds_queued",
            "Builds waiting in the queue, of every replica",
            queued.clone(),
        );
        let running = Gauge::default();
        registry.register(
            "kiln_builds_running",
            "Builds running (leased), on every replica and agent",
            running.clone(),
        );
        let oldest_wait = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "kiln_queue_oldest_wait_seconds",
            "How long the longest-waiting queued build has waited (0 when none waits)",
            oldest_wait.clone(),
        );
        Metrics {
            registry,
            api_seconds,
            badge_cached,
            badge_read,
            badge_unknown,
            webhooks,
            queued,
            running,
            oldest_wait,
        }
    }

    /// Times one API call; `operation` is labelled only when the caller was signed and the
    /// operation exists (else `unknown`).
    pub fn api_call(
        &self,
        service: Option<Service>,
        operation: &str,
        error: Option<ErrorKind>,
        seconds: f64,
    ) {
        let found = !matches!(
            error,
            Some(
                ErrorKind::UnknownOperation
                    | ErrorKind::MissingAuthenticationToken
                    | ErrorKind::IncompleteSignature
                    | ErrorKind::UnrecognizedClient
                    | ErrorKind::InvalidSignature
                    | ErrorKind::RequestEntityTooLarge
                    | ErrorKind::Serialization
            )
        );
        let outcome = match error {
            None => "ok",
            Some(kind) if kind.http_status() >= 500 => "server_error",
            Some(_) => "client_error",
        };
        let labels = ApiLabels {
            service: service.map_or("unknown", Service::signing_name),
            operation: if found && service.is_some() {
                operation.to_owned()
            } else {
                "unknown".to_owned()
            },
            outcome,
        };
        self.api_seconds.get_or_create(&labels).observe(seconds);
    }

    pub fn badge(&self, lookup: BadgeLookup) {
        match lookup {
            BadgeLookup::Cached => self.badge_cached.inc(),
            BadgeLookup::Read => self.badge_read.inc(),
            BadgeLookup::Unknown => self.badge_unknown.inc(),
        };
    }

    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.webhooks.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// The text a scrape gets, with the queue gauges read from the store now.
    async fn render(&self, store: &dyn Store, now: f64) -> Result<String, kiln_store::StoreError> {
        let QueueGauges {
            queued,
            running,
            oldest_queued_at,
        } = store.queue_gauges().await?;
        self.queued.set(i64::try_from(queued).unwrap_or(i64::MAX));
        self.running.set(i64::try_from(running).unwrap_or(i64::MAX));
        self.oldest_wait
            .set(oldest_queued_at.map_or(0.0, |at| (now - at).max(0.0)));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        Ok(text)
    }
}

/// The router of the metrics listener: `GET /metrics` only.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(state)
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    match state
        .metrics
        .render(state.store.as_ref(), state.now_epoch())
        .await
    {
        Ok(text) => {
            let mut response = text.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the queue for /metrics");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store cannot be read\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use kiln_domain::ErrorKind;
    use kiln_scheduler::BuildMetrics;
    use prometheus_client::encoding::text::encode;

    use super::{BadgeLookup, Metrics};
    use crate::service::Service;

    fn text(metrics: &Metrics) -> String {
        let mut text = String::new();
        encode(&mut text, &metrics.registry).unwrap();
        text
    }

    #[test]
    fn operations_are_labelled_only_once_found() {
        let metrics = Metrics::new(&BuildMetrics::default());
        metrics.api_call(Some(Service::CodeBuild), "ListProjects", None, 0.002);
        metrics.api_call(
            Some(Service::CodeBuild),
            "MadeUpByACaller",
            Some(ErrorKind::UnknownOperation),
            0.001,
        );
        metrics.api_call(
            Some(Service::CodeBuild),
            "ForgedName",
            Some(ErrorKind::InvalidSignature),
            0.001,
        );
        metrics.badge(BadgeLookup::Cached);
        metrics.badge(BadgeLookup::Cached);
        metrics.webhook_delivery("BUILT");
        let text = text(&metrics);
        assert!(text.contains("kiln_api_request_duration_seconds_count{service=\"codebuild\",operation=\"ListProjects\",outcome=\"ok\"} 1"), "{text}");
        assert!(text.contains("kiln_api_request_duration_seconds_count{service=\"codebuild\",operation=\"unknown\",outcome=\"client_error\"} 2"), "{text}");
        assert!(
            !text.contains("MadeUp") && !text.contains("Forged"),
            "{text}"
        );
        assert!(
            text.contains("kiln_badge_requests_total{outcome=\"cached\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kiln_badge_requests_total{outcome=\"read\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("kiln_webhook_deliveries_total{outcome=\"BUILT\"} 1"),
            "{text}"
        );
    }
}
