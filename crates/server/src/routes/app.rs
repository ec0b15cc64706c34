//! The agents' and admins' web app, served from files built into the binary (no CDN, works
//! offline): `/` and every `/app/...` page get the same shell, which signs in and then talks
//! to `/api/v1` like any other client. The pages allow only their own scripts and styles.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::App;

const INDEX: &str = include_str!("../../assets/app/index.html");
const SCRIPT: &str = include_str!("../../assets/app/app.js");
const COMMON: &str = include_str!("../../assets/app/common.js");
const DESK: &str = include_str!("../../assets/app/desk.js");
const STYLE: &str = include_str!("../../assets/app/app.css");

pub fn router() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/app/inbox") }))
        .route("/app", get(shell))
        .route("/app/app.js", get(script))
        .route("/app/common.js", get(|| async { script_of(COMMON) }))
        .route("/app/desk.js", get(|| async { script_of(DESK) }))
        .route("/app/app.css", get(style))
        .route("/app/{*page}", get(shell))
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    secured(
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
    )
}

async fn shell() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> Response {
    script_of(SCRIPT)
}

fn script_of(body: &'static str) -> Response {
    asset("text/javascript; charset=utf-8", body)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
