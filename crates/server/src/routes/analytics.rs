//! `/api/v1/analytics/report`: resolution, escalation, deflection, first-contact resolution,
//! response and handle times, repeat contacts and CSAT for a period — overall, per channel,
//! per customer journey and by day (definitions in `rapport_analytics`). `format=csv` gives
//! the daily series for a spreadsheet.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::App;
use crate::auth::Caller;
use crate::error::ApiError;

pub fn router() -> Router<App> {
    Router::new()
        .route("/analytics/report", get(get_report))
        .route("/analytics/unanswered", get(get_unanswered))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// First day counted (`YYYY-MM-DD`, UTC); default 30 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day counted, included; default today.
    pub to: Option<NaiveDate>,
    /// Only conversations on this channel (journeys still see every channel).
    pub channel: Option<String>,
    /// How soon a customer must come back for it to be a repeat contact (default from
    /// `analytics.repeat_window_hours`, 72).
    pub window_hours: Option<i64>,
    /// `csv` for the daily series as a file.
    pub format: Option<String>,
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The figures of the caller's workspace for a period.
#[utoipa::path(get, path = "/api/v1/analytics/report", tag = "analytics", params(ReportQuery),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub async fn get_report(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let to = q.to.unwrap_or_else(|| now.date_naive());
    let from = q.from.unwrap_or(to - Duration::days(29));
    if from > to {
        return Err(ApiError::BadRequest("from is after to".into()));
    }
    if (to - from).num_days() > 366 {
        return Err(ApiError::BadRequest(
            "a report covers at most a year".into(),
        ));
    }
    let window_hours = q
        .window_hours
        .unwrap_or(app.config.analytics.repeat_window_hours);
    if !(1..=24 * 90).contains(&window_hours) {
        return Err(ApiError::BadRequest(
            "window_hours is between 1 and 2160".into(),
        ));
    }
    let params = rapport_analytics::Params {
        window: Duration::hours(window_hours),
        idle: Duration::hours(app.config.agent.conversation_idle_hours.max(1)),
        now,
    };
    let report = rapport_analytics::workspace_report(
        &app.store,
        caller.workspace,
        start_of(from),
        start_of(to + Duration::days(1)),
        q.channel.as_deref().filter(|c| !c.is_empty()),
        params,
    )
    .await?;
    if q.format.as_deref() == Some("csv") {
        let mut csv = String::from("date,conversations,escalated,ai_resolved\r\n");
        for d in &report.by_day {
            csv.push_str(&format!(
                "{},{},{},{}\r\n",
                d.date, d.conversations, d.escalated, d.ai_resolved
            ));
        }
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"rapport-analytics.csv\"",
                ),
            ],
            csv,
        )
            .into_response());
    }
    Ok(Json(serde_json::json!({
        "from": from,
        "to": to,
        "window_hours": window_hours,
        "report": report,
    }))
    .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TopicsQuery {
    /// First day (`YYYY-MM-DD`, UTC); default 30 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day, included; default today.
    pub to: Option<NaiveDate>,
    /// How alike two questions must be to share a topic (cosine, default 0.7).
    pub similarity: Option<f32>,
}

/// The questions the bot could not answer, grouped by meaning, biggest group first: what to
/// add to the knowledge next.
#[utoipa::path(get, path = "/api/v1/analytics/unanswered", tag = "analytics", params(TopicsQuery),
    responses((status = 200, body = Object)))]
pub async fn get_unanswered(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<TopicsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let to = q.to.unwrap_or_else(|| Utc::now().date_naive());
    let from = q.from.unwrap_or(to - Duration::days(29));
    if from > to {
        return Err(ApiError::BadRequest("from is after to".into()));
    }
    let threshold = q.similarity.unwrap_or(0.7).clamp(0.3, 0.99);
    let topics = rapport_analytics::unanswered_topics(
        &app.store,
        app.embedder.as_ref(),
        caller.workspace,
        start_of(from),
        start_of(to + Duration::days(1)),
        threshold,
    )
    .await
    .map_err(|e| match e {
        rapport_analytics::Error::Store(s) => ApiError::from(s),
        rapport_analytics::Error::Embedder(c) => ApiError::Internal(c.into()),
    })?;
    Ok(Json(
        serde_json::json!({ "from": from, "to": to, "topics": topics }),
    ))
}
