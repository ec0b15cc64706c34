//! `/csat/{token}`: the page a rating link opens — five buttons, no script, no sign-in — and
//! the form it posts. A GET never records anything, so mail scanners that follow links do not
//! rate on the customer's behalf.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use crate::App;
use crate::error::ApiError;

pub fn router() -> Router<App> {
    Router::new().route("/csat/{token}", get(page).post(rate))
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;background:#f6f7f9;color:#1d2433;\
display:flex;min-height:100vh;align-items:center;justify-content:center;margin:0}\
main{background:#fff;border-radius:14px;box-shadow:0 4px 24px #0001;padding:32px 40px;\
max-width:420px;text-align:center}h1{font-size:20px;margin:0 0 8px}p{color:#5b6475}\
form{display:flex;gap:8px;justify-content:center;margin-top:20px}\
button{font-size:18px;width:52px;height:52px;border-radius:50%;border:1px solid #d5d9e2;\
background:#fff;cursor:pointer}button:hover,button.on{background:#2f6fed;color:#fff;border-color:#2f6fed}\
.scale{display:flex;justify-content:space-between;font-size:13px;color:#8a93a5;margin-top:6px}";

fn document(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>How did we do?</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>"
    ))
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        document("<h1>This link is not valid</h1><p>It may have been mistyped.</p>"),
    )
        .into_response()
}

/// The rating page.
pub async fn page(State(app): State<App>, Path(token): Path<String>) -> Result<Response, ApiError> {
    let Some(page) = app.agent.rating_page(&token).await? else {
        return Ok(not_found());
    };
    let buttons: String = (1..=5)
        .map(|n| {
            let on = if page.current == Some(n) {
                " class=\"on\""
            } else {
                ""
            };
            format!(
                "<button name=\"score\" value=\"{n}\"{on} aria-label=\"{n} out of 5\">{n}</button>"
            )
        })
        .collect();
    Ok(document(&format!(
        "<h1>How did we do?</h1><p>Rate the help you got, from 1 (poor) to 5 (great).</p>\
         <form method=\"post\">{buttons}</form><div class=\"scale\"><span>Poor</span><span>Great</span></div>"
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct Rating {
    score: i32,
}

/// Records the score and thanks the customer.
pub async fn rate(
    State(app): State<App>,
    Path(token): Path<String>,
    Form(rating): Form<Rating>,
) -> Result<Response, ApiError> {
    if !app.agent.rate_by_link(&token, rating.score).await? {
        return Ok(not_found());
    }
    Ok(document(&format!(
        "<h1>Thank you!</h1><p>You rated us {} out of 5. It helps us get better.</p>",
        rating.score
    ))
    .into_response())
}
