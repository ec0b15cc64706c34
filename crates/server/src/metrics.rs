//! Prometheus metrics of this process. One registry per app, so tests that start several apps
//! in one process do not mix their counts.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub jobs: IntGaugeVec,
    pub outbox: IntGaugeVec,
    pub deliveries: IntCounterVec,
    pub messages: IntGaugeVec,
    pub escalations: IntGaugeVec,
    pub replies: IntCounterVec,
    pub reply_seconds: HistogramVec,
    pub model_tokens: IntCounterVec,
    pub action_calls: IntCounterVec,
    pub action_seconds: HistogramVec,
    pub agents: IntGaugeVec,
    pub sla_breached: IntGauge,
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
        let messages = IntGaugeVec::new(
            Opts::new(
                "messages",
                "Messages stored, by channel and direction (inbound from customers, outbound from the bot and agents)",
            ),
            &["channel", "direction"],
        )
        .expect("static metric definition is valid");
        let escalations = IntGaugeVec::new(
            Opts::new("escalations", "Escalations by status"),
            &["status"],
        )
        .expect("static metric definition is valid");
        let replies = IntCounterVec::new(
            Opts::new(
                "replies_total",
                "Bot replies by channel and decision (answered, acknowledged, unknown, escalated, silent)",
            ),
            &["channel", "decision"],
        )
        .expect("static metric definition is valid");
        let reply_seconds = HistogramVec::new(
            HistogramOpts::new(
                "reply_step_seconds",
                "Time spent per step of a bot reply: retrieval, model generation, the whole reply",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["step"],
        )
        .expect("static metric definition is valid");
        let model_tokens = IntCounterVec::new(
            Opts::new(
                "model_tokens_total",
                "Language model tokens spent, prompt and completion",
            ),
            &["kind"],
        )
        .expect("static metric definition is valid");
        let action_calls = IntCounterVec::new(
            Opts::new(
                "action_calls_total",
                "Calls the agent made to actions' APIs, by action and outcome",
            ),
            &["action", "outcome"],
        )
        .expect("static metric definition is valid");
        let action_seconds = HistogramVec::new(
            HistogramOpts::new("action_call_seconds", "Time an action's API took to answer")
                .buckets(vec![
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ]),
            &["action"],
        )
        .expect("static metric definition is valid");
        let agents = IntGaugeVec::new(
            Opts::new(
                "agents",
                "Agents by status as colleagues see it (online, away, offline)",
            ),
            &["status"],
        )
        .expect("static metric definition is valid");
        let sla_breached = IntGauge::new(
            "sla_breached_escalations",
            "Escalations that missed an SLA target (first response or resolution)",
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
            Box::new(messages.clone()),
            Box::new(escalations.clone()),
            Box::new(replies.clone()),
            Box::new(reply_seconds.clone()),
            Box::new(model_tokens.clone()),
            Box::new(action_calls.clone()),
            Box::new(action_seconds.clone()),
            Box::new(agents.clone()),
            Box::new(sla_breached.clone()),
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
            messages,
            agents,
            sla_breached,
            escalations,
            replies,
            reply_seconds,
            model_tokens,
            action_calls,
            action_seconds,
        }
    }

    /// What one bot reply did (from the reply job, in this process).
    pub fn observe_reply(&self, channel: &str, outcome: &rapport_agent::ReplyOutcome) {
        let decision = serde_json::to_value(outcome.decision)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into());
        self.replies.with_label_values(&[channel, &decision]).inc();
        let timings = &outcome.trace["timings_ms"];
        for (step, key) in [
            ("retrieve", "retrieve"),
            ("generate", "generate"),
            ("total", "total"),
        ] {
            if let Some(ms) = timings[key].as_f64() {
                self.reply_seconds
                    .with_label_values(&[step])
                    .observe(ms / 1000.0);
            }
        }
        for kind in ["prompt", "completion"] {
            if let Some(n) = outcome.trace["tokens"][kind].as_u64().filter(|n| *n > 0) {
                self.model_tokens.with_label_values(&[kind]).inc_by(n);
            }
        }
        let action = &outcome.trace["action"];
        if let (Some(name), Some(call_outcome)) =
            (action["name"].as_str(), action["call"]["outcome"].as_str())
        {
            self.action_calls
                .with_label_values(&[name, call_outcome])
                .inc();
            if let Some(ms) = action["call"]["latency_ms"].as_f64() {
                self.action_seconds
                    .with_label_values(&[name])
                    .observe(ms / 1000.0);
            }
        }
    }

    pub fn set_message_counts(&self, counts: &[(String, String, i64)]) {
        for (channel, direction, n) in counts {
            self.messages
                .with_label_values(&[channel, direction])
                .set(*n);
        }
    }

    pub fn set_agent_counts(&self, counts: &[(rapport_desk::Status, i64)]) {
        for (status, n) in counts {
            self.agents.with_label_values(&[status.as_str()]).set(*n);
        }
    }

    pub fn set_escalation_counts(&self, counts: &[(String, i64)]) {
        for (status, n) in counts {
            self.escalations.with_label_values(&[status]).set(*n);
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

/// Feeds reply outcomes to the metrics.
pub struct ReplyMetrics(pub std::sync::Arc<Metrics>);

impl rapport_agent::ReplyObserver for ReplyMetrics {
    fn progress(&self, reply: &rapport_agent::ReplyTo, progress: rapport_agent::ReplyProgress<'_>) {
        if let rapport_agent::ReplyProgress::Finished(Some(outcome)) = progress {
            self.0.observe_reply(reply.channel.as_str(), outcome);
        }
    }
}
