//! Prometheus metrics of this process. One registry per app, so tests that start several apps
//! in one process do not mix their counts.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub jobs: IntGaugeVec,
    pub outbox: IntGaugeVec,
    pub deliveries: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("rapport".into()), None)
            .expect("static registry prefix is valid");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )
        .expect("static metric definition is valid");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["method", "route"],
        )
        .expect("static metric definition is valid");
        let jobs = IntGaugeVec::new(Opts::new("jobs", "Jobs in the queue by state"), &["state"])
            .expect("static metric definition is valid");
        let outbox = IntGaugeVec::new(
            Opts::new("outbox", "Outbound messages in the outbox by state"),
            &["state"],
        )
        .expect("static metric definition is valid");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "outbox_deliveries_total",
                "Delivery attempts by channel and outcome (sent, retrying, failed)",
            ),
            &["channel", "outcome"],
        )
        .expect("static metric definition is valid");
        let build = IntGaugeVec::new(
            Opts::new("build_info", "Version of the running binary"),
            &["version"],
        )
        .expect("static metric definition is valid");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        for m in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(jobs.clone()),
            Box::new(outbox.clone()),
            Box::new(deliveries.clone()),
            Box::new(build),
        ] {
            registry
                .register(m)
                .expect("each metric is registered once");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            jobs,
            outbox,
            deliveries,
        }
    }

    pub fn set_outbox_counts(&self, c: rapport_store::outbox::OutboxCounts) {
        for (state, n) in [
            ("pending", c.pending),
            ("sending", c.sending),
            ("sent", c.sent),
            ("failed", c.failed),
        ] {
            self.outbox.with_label_values(&[state]).set(n);
        }
    }

    pub fn observe_delivery(
        &self,
        channel: rapport_core::domain::Channel,
        outcome: &rapport_channels::outbox::Outcome,
    ) {
        use rapport_channels::outbox::Outcome;
        let outcome = match outcome {
            Outcome::Sent { .. } => "sent",
            Outcome::Retrying { .. } => "retrying",
            Outcome::Failed { .. } => "failed",
            Outcome::LeaseLost { .. } => "lease_lost",
        };
        self.deliveries
            .with_label_values(&[channel.as_str(), outcome])
            .inc();
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    pub fn set_job_counts(&self, c: rapport_store::jobs::JobCounts) {
        for (state, n) in [
            ("queued", c.queued),
            ("running", c.running),
            ("done", c.done),
            ("dead", c.dead),
        ] {
            self.jobs.with_label_values(&[state]).set(n);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for text.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
