//! The router and the middleware every request goes through: request metrics, tracing, a body
//! size limit, a timeout, load shedding of inbound messages, and JSON bodies for the errors
//! the middleware itself produces.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::App;
use crate::error::error_response;
use crate::routes;

pub fn router(app: App) -> Router {
    let body_limit = app.config.http.body_limit;
    let upload_limit = app.config.knowledge.max_upload_bytes;
    let timeout = app.config.request_timeout();
    // Two body limits: the general one, and a larger one for file uploads. Each group gets both
    // layers: the tower one refuses by Content-Length before a byte is read, the axum one bounds
    // what extractors buffer.
    let limited = Router::new()
        .merge(routes::health::router())
        .nest("/api/v1", routes::api_v1())
        .nest("/webhooks", routes::webhooks::router())
        .merge(routes::widget::router(&app))
        .merge(routes::csat::router())
        .merge(routes::app::router())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyLimitLayer::new(body_limit));
    let uploads = Router::new()
        .nest("/api/v1", routes::api_v1_uploads())
        .layer(DefaultBodyLimit::max(upload_limit))
        .layer(RequestBodyLimitLayer::new(upload_limit));
    // Inbound mail carries its attachments: a third limit.
    let mail_limit = app.config.email.max_bytes;
    let mail = Router::new()
        .nest("/webhooks", routes::email::router())
        .layer(DefaultBodyLimit::max(mail_limit))
        .layer(RequestBodyLimitLayer::new(mail_limit));
    let inbound = Arc::new(Semaphore::new(app.config.http.max_inflight_messages.max(1)));
    Router::new()
        .merge(limited)
        .merge(uploads)
        .merge(mail)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            inbound,
            shed_inbound_messages,
        ))
        // Outermost last: the JSON error envelope wraps what the limit and timeout layers answer.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(app.clone(), record_metrics))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

/// Past capacity, an inbound message is refused at once with 503 and Retry-After (WhatsApp,
/// Instagram, Mailgun and integrations retry) instead of waiting in a queue that grows until
/// every answer is late. Other requests are not limited here.
async fn shed_inbound_messages(
    State(permits): State<Arc<Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let inbound = req.method() == axum::http::Method::POST
        && (path.starts_with("/webhooks/") || path == "/api/v1/channels/api/messages");
    if !inbound {
        return next.run(req).await;
    }
    let Ok(_permit) = permits.try_acquire() else {
        let mut response = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many messages at once; try again shortly",
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return response;
    };
    next.run(req).await
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Counts and times every request by its route template (not its raw path, which would give
/// one series per id).
async fn record_metrics(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    app.metrics.observe_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Layers such as the body limit and the timeout answer in plain text; clients of this API
/// always get the JSON error envelope.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body is too large"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "method not allowed on this endpoint")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
            ("bad_request", "the request body is not valid")
        }
        _ => return response,
    };
    // Keep the extractor's own explanation when there is one (it says which field is wrong).
    let detail = match axum::body::to_bytes(response.into_body(), 16 * 1024).await {
        Ok(bytes) if !bytes.is_empty() && status != StatusCode::PAYLOAD_TOO_LARGE => {
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => message.to_owned(),
    };
    error_response(status, code, detail)
}
