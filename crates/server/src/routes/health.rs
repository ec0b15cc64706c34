//! Liveness, readiness and metrics: what a load balancer, an orchestrator and Prometheus poll.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::App;

pub fn router() -> Router<App> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` while the process runs.
    pub status: &'static str,
    pub version: &'static str,
}

/// The process is up. Says nothing about its dependencies (see `/readyz`).
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every check passed, else `unavailable`.
    pub status: &'static str,
    pub checks: ReadinessChecks,
}

/// `ok`, or what went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessChecks {
    pub database: String,
    pub index: String,
    pub embedder: String,
}

/// The database answers, the vector index can be read and the embedder runs.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(app): State<App>) -> Response {
    let (database, index, embedder) = tokio::join!(
        app.store.ping(),
        app.index.check(),
        app.embedder.embed_one("readiness probe")
    );
    let outcome = |r: Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e,
    };
    let checks = ReadinessChecks {
        database: outcome(database.map_err(|e| e.to_string())),
        index: outcome(index.map_err(|e| e.to_string())),
        embedder: outcome(embedder.map(|_| ()).map_err(|e| e.to_string())),
    };
    let ready = [&checks.database, &checks.index, &checks.embedder]
        .iter()
        .all(|c| *c == "ok");
    if !ready {
        tracing::warn!(?checks, "not ready");
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "unavailable" },
            checks,
        }),
    )
        .into_response()
}

/// Prometheus text format: request counts and latencies, job queue depth.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(app): State<App>) -> Response {
    match app.store.job_counts().await {
        Ok(counts) => app.metrics.set_job_counts(counts),
        Err(e) => tracing::warn!(error = %e, "could not count jobs for /metrics"),
    }
    match app.store.message_counts().await {
        Ok(counts) => app.metrics.set_message_counts(&counts),
        Err(e) => tracing::warn!(error = %e, "could not count messages for /metrics"),
    }
    match app.store.escalation_counts().await {
        Ok(counts) => app.metrics.set_escalation_counts(&counts),
        Err(e) => tracing::warn!(error = %e, "could not count escalations for /metrics"),
    }
    match app.desk.status_counts().await {
        Ok(counts) => app.metrics.set_agent_counts(&counts),
        Err(e) => tracing::warn!(error = %e, "could not count agents for /metrics"),
    }
    match app.store.sla_breach_count().await {
        Ok(n) => app.metrics.sla_breached.set(n),
        Err(e) => tracing::warn!(error = %e, "could not count SLA breaches for /metrics"),
    }
    match app.store.outbox_counts().await {
        Ok(counts) => app.metrics.set_outbox_counts(counts),
        Err(e) => tracing::warn!(error = %e, "could not count the outbox for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}
