//! Prometheus metrics of the webhook (`GET /metrics` on the metrics port).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::registry::{ClientStats, Store};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    /// allowed | denied | warned | excluded | skipped | invalid
    pub result: String,
    pub mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

pub struct Metrics {
    registry: Registry,
    pub admissions: Family<AdmissionLabels, Counter>,
    pub admission_seconds: Histogram,
    /// Per (container, platform): allow | deny | error.
    pub verdicts: Family<ResultLabels, Counter>,
    /// Resolution and policy errors by kind.
    pub errors: Family<KindLabels, Counter>,
    /// Statements found but not about the image they were found with.
    pub excluded_statements: Counter,
    pub policy_reloads: Family<ResultLabels, Counter>,
    /// 1 when the configured policies loaded; 0 while the last load failed
    /// (the last good set keeps serving).
    pub policy_healthy: Gauge,
    pub tls_reloads: Family<ResultLabels, Counter>,
    /// Weighted sizes of the caches kept beside the content cache (set at scrape time).
    pub cache_bytes: Family<KindLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Reads the registry client's and caches' own counters at scrape time.
#[derive(Debug)]
struct StoreCollector {
    stats: Arc<ClientStats>,
    store: Arc<Store>,
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in [
            (
                "attestgate_registry_requests",
                "HTTP requests sent to registries (token requests included)",
                self.stats.requests.load(Ordering::Relaxed),
            ),
            (
                "attestgate_registry_token_requests",
                "Token requests sent to registries' token services",
                self.stats.token_requests.load(Ordering::Relaxed),
            ),
            (
                "attestgate_registry_bytes",
                "Body bytes read from registries",
                self.stats.bytes.load(Ordering::Relaxed),
            ),
        ] {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let g = ConstGauge::new(i64::try_from(self.store.cached_bytes()).unwrap_or(i64::MAX));
        g.encode(encoder.encode_descriptor(
            "attestgate_cache_content_bytes",
            "Bytes of verified manifests and blobs held in the content cache",
            None,
            g.metric_type(),
        )?)?;
        Ok(())
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let admissions = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "attestgate_admissions",
            "Admission requests answered",
            admissions.clone(),
        );
        let admission_seconds = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "attestgate_admission_duration_seconds",
            "Time to answer an admission request",
            admission_seconds.clone(),
        );
        let verdicts = Family::<ResultLabels, Counter>::default();
        registry.register(
            "attestgate_verdicts",
            "Judgements of one container on one platform",
            verdicts.clone(),
        );
        let errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "attestgate_errors",
            "Resolution and policy errors, by kind",
            errors.clone(),
        );
        let excluded_statements = Counter::default();
        registry.register(
            "attestgate_excluded_statements",
            "Statements whose subject is not the image they were found with",
            excluded_statements.clone(),
        );
        let policy_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "attestgate_policy_reloads",
            "Policy set reloads (success | failure)",
            policy_reloads.clone(),
        );
        let policy_healthy = Gauge::default();
        registry.register(
            "attestgate_policy_healthy",
            "1 when the configured policies are loaded as written",
            policy_healthy.clone(),
        );
        let tls_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "attestgate_tls_reloads",
            "Serving certificate reloads (success | failure)",
            tls_reloads.clone(),
        );
        let cache_bytes = Family::<KindLabels, Gauge>::default();
        registry.register(
            "attestgate_cache_bytes",
            "Estimated memory held by a cache: resolutions (parsed statements), statement_values (policy values)",
            cache_bytes.clone(),
        );
        Metrics {
            cache_bytes,
            registry,
            admissions,
            admission_seconds,
            verdicts,
            errors,
            excluded_statements,
            policy_reloads,
            policy_healthy,
            tls_reloads,
        }
    }

    pub fn watch_store(&mut self, stats: Arc<ClientStats>, store: Arc<Store>) {
        self.registry
            .register_collector(Box::new(StoreCollector { stats, store }));
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

pub fn inc(family: &Family<ResultLabels, Counter>, result: &str) {
    family
        .get_or_create(&ResultLabels {
            result: result.into(),
        })
        .inc();
}
