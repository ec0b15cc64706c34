//! The web chat widget: `/widget.js` (the embeddable script), a demo page, and the public API the
//! script speaks under `/api/v1/widget` — start or resume a session, send a message, read the
//! history, follow replies live over server-sent events.
//!
//! The API is public (a visitor token is the only credential), so every route goes through
//! [`guard`]: pages of origins that are not allowed are refused with a 403 that says why, CORS
//! headers are added for the allowed ones, and each address is rate limited. Handlers parse,
//! call the channel ([`rapport_channels::web`]) or the agent, and map errors.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use rapport_agent::Inbound;
use rapport_agent::identity::{IdentityClaim, SignedIdentity};
use rapport_channels::web::{VerifiedIdentity, VisitorMessage, WebInbound};
use rapport_core::domain::Channel;
use rapport_core::ids::WorkspaceId;
use rapport_store::widget::WidgetSession;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::App;
use crate::error::{ApiError, error_response};
use crate::routes::customers::MAX_TEXT_CHARS;
use crate::widget::{Appearance, StreamItem, Widget};

/// The script, served from the binary: no CDN, no build step.
const SCRIPT: &str = include_str!("../../assets/widget.js");

/// Sessions start in the default workspace until channels are configured per workspace.
const WS: WorkspaceId = WorkspaceId::DEFAULT;

/// A widget request is a few hundred bytes; 64 KiB leaves room for the longest message.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(app: &App) -> Router<App> {
    Router::new()
        .route("/api/v1/widget/sessions", post(start_session))
        .route(
            "/api/v1/widget/messages",
            get(list_messages).post(send_message),
        )
        .route("/api/v1/widget/events", get(events))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .route("/widget.js", get(script))
        .route("/widget/demo", get(demo))
}

/// Origin check, CORS and the per-address rate limit, for every widget API route.
async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let origin = Widget::header_origin(req.headers()).map(str::to_owned);
    let cors = |mut response: Response| {
        if let Some(value) = origin
            .as_deref()
            .and_then(|o| HeaderValue::from_str(o).ok())
        {
            let h = response.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            h.append(header::VARY, HeaderValue::from_static("origin"));
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("retry-after"),
            );
        }
        response
    };
    if let Some(o) = &origin {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or(req.uri().authority().map(|a| a.as_str()));
        if !app.widget.origin_allowed(o, host) {
            tracing::info!(origin = %o, "widget request from an origin that is not allowed");
            // Readable by the refused page, so its console says why; it carries no data.
            return cors(error_response(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                format!(
                    "pages of {o} may not use this chat widget; add the origin to [widget] \
                     allowed_origins (RAPPORT_WIDGET_ALLOWED_ORIGINS)"
                ),
            ));
        }
    }
    if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, last-event-id"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return cors(response);
    }
    let ip = app.widget.client_ip(req.headers(), req.extensions());
    if let Err(e) = app.widget.limit_address(ip) {
        return cors(e.into_response());
    }
    cors(next.run(req).await)
}

/// The visitor a request's token names: `Authorization: Bearer <token>`, or `?token=` for
/// clients that cannot set headers (a browser's `EventSource`).
pub struct Visitor(pub WidgetSession);

impl FromRequestParts<App> for Visitor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let query = || {
            Query::<TokenQuery>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|Query(q)| q.token)
        };
        let token = header.or_else(query).ok_or_else(|| {
            ApiError::Unauthorized(
                "a visitor token is required (Authorization: Bearer <token>); start a session first"
                    .into(),
            )
        })?;
        Ok(Visitor(app.widget.chat().session(&token).await?))
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// The token of this browser's earlier session: resumed while it is valid and for the same
    /// signed user, else a new session starts.
    pub token: Option<String>,
    /// The logged-in user as the site's back end signed it: `user_id`, `email`, `phone` and
    /// `signature`, the hex HMAC-SHA256 of `user_id + "\n" + email + "\n" + phone` keyed with
    /// `RAPPORT_IDENTITY_SECRET`.
    #[schema(value_type = Option<Object>)]
    pub user: Option<SignedIdentity>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Keep it (the widget uses `localStorage`) and send it as `Authorization: Bearer`.
    pub token: String,
    pub visitor_id: String,
    pub resumed: bool,
    /// What the signature proved, when the site signed the user in.
    #[schema(value_type = Option<Object>)]
    pub user: Option<VerifiedIdentity>,
    pub widget: Appearance,
}

/// Starts a visitor session, or resumes the one whose token is presented (201 new, 200 resumed).
#[utoipa::path(post, path = "/api/v1/widget/sessions", tag = "widget", request_body = StartSession,
    responses((status = 201, body = SessionView), (status = 200, body = SessionView),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
pub async fn start_session(
    State(app): State<App>,
    headers: HeaderMap,
    body: Option<Json<StartSession>>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let Json(body) = body.unwrap_or_default();
    let user = body.user.map(|u| app.widget.verify(u)).transpose()?;
    let started = app
        .widget
        .chat()
        .start(
            WS,
            body.token.as_deref(),
            user.as_ref(),
            Widget::header_origin(&headers),
        )
        .await?;
    let status = if started.resumed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(SessionView {
            token: started.token,
            visitor_id: started.session.visitor_id,
            resumed: started.resumed,
            user,
            widget: app.widget.appearance(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub text: String,
    /// The widget's id for this message (letters, digits, `-`, `_`; at most 64): a retry with
    /// the same id is stored and answered once.
    pub client_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageAccepted {
    pub id: i64,
    pub duplicate: bool,
}

fn inbound(m: WebInbound) -> Inbound {
    Inbound {
        claim: IdentityClaim {
            channel: Some(Channel::Web),
            external_id: m.external_id,
            // Proven by the site's signature when the session was started.
            verified_phone: m.verified_phone,
            verified_email: m.verified_email,
            ..IdentityClaim::default()
        },
        provider_message_id: m.provider_message_id,
        kind: "text".into(),
        text: m.text,
        ..Inbound::default()
    }
}

/// Stores the visitor's message and queues the reply, which arrives on the event stream (202).
#[utoipa::path(post, path = "/api/v1/widget/messages", tag = "widget", request_body = SendMessage,
    responses((status = 202, body = MessageAccepted), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
pub async fn send_message(
    State(app): State<App>,
    Visitor(session): Visitor,
    Json(body): Json<SendMessage>,
) -> Result<(StatusCode, Json<MessageAccepted>), ApiError> {
    if body.text.trim().is_empty() {
        return Err(ApiError::BadRequest("text is empty".into()));
    }
    if body.text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::TooLarge(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    app.widget.limit_visitor(&session)?;
    let message = app
        .widget
        .chat()
        .inbound(&session, body.text, body.client_id.as_deref())?;
    let ws = WorkspaceId(session.workspace_id);
    let received = app.agent.receive(ws, &inbound(message), true).await?;
    // The visitor's other tabs and devices show it at once.
    app.widget
        .live()
        .changed(ws, received.contact_id, Some(&session.external_id));
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageAccepted {
            id: received.message_id.0,
            duplicate: received.duplicate,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// Only messages older than this message id (paging back).
    pub before: Option<i64>,
    /// At most this many, the newest (default 50, at most 200).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    /// Oldest first: the visitor's messages and the replies on this chat.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<VisitorMessage>,
    /// Older messages exist (page back with `before`).
    pub more: bool,
}

/// The visitor's conversation on the web chat, to draw it again after a page reload. Only this
/// chat: the customer's other channels and agents' internal notes are never shown here.
#[utoipa::path(get, path = "/api/v1/widget/messages", tag = "widget", params(HistoryQuery),
    responses((status = 200, body = History), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list_messages(
    State(app): State<App>,
    Visitor(session): Visitor,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    // One more than asked tells whether there is more.
    let mut messages = app
        .widget
        .chat()
        .history(&session, q.before, limit + 1)
        .await?;
    let more = messages.len() as i64 > limit;
    if more {
        messages.remove(0);
    }
    Ok(Json(History { messages, more }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Send messages after this id (default: only new ones). `Last-Event-ID` wins.
    pub after: Option<i64>,
    /// The visitor token, for clients that cannot set `Authorization` (`EventSource`).
    #[allow(
        dead_code,
        reason = "read by the Visitor extractor; listed for the OpenAPI document"
    )]
    pub token: Option<String>,
}

/// Server-sent events: `ready` once connected; `message` (id = message id) for every new message
/// of the chat, the visitor's own included; `typing` (`{"reply_to","typing"}`) while the bot
/// works on a reply; `delta` (`{"reply_to","text","replace"}`) with the answer as the model
/// writes it, when it streams. A `message` from the bot supersedes the deltas.
#[utoipa::path(get, path = "/api/v1/widget/events", tag = "widget", params(EventsQuery),
    responses((status = 200, description = "text/event-stream"), (status = 401, body = crate::error::ErrorBody)))]
pub async fn events(
    State(app): State<App>,
    Visitor(session): Visitor,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(q.after);
    let rx = app.widget.watch(session, after);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((Ok(event(item)), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn event(item: StreamItem) -> Event {
    let json =
        |name: &str, value: serde_json::Value| Event::default().event(name).data(value.to_string());
    match item {
        // Reconnect soon after a restart or a dropped connection.
        StreamItem::Ready => json("ready", serde_json::json!({})).retry(Duration::from_secs(2)),
        StreamItem::Message(m) => {
            let id = m.id.to_string();
            match serde_json::to_value(&m) {
                Ok(value) => json("message", value).id(id),
                Err(_) => Event::default().comment("unserialisable message"),
            }
        }
        StreamItem::Typing { reply_to, typing } => json(
            "typing",
            serde_json::json!({ "reply_to": reply_to, "typing": typing }),
        ),
        StreamItem::Delta {
            reply_to,
            text,
            replace,
        } => json(
            "delta",
            serde_json::json!({ "reply_to": reply_to, "text": text, "replace": replace }),
        ),
    }
}

/// The embeddable script (`<script src="https://rapport.example/widget.js" defer>`).
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // Short, so an upgrade reaches visitors the same day.
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// A page with the widget on it, to try it on Rapport's own origin.
pub async fn demo(State(app): State<App>) -> Html<String> {
    let title = html_escape(&app.widget.appearance().title);
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — chat demo</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2937\">\
         <h1>{title}</h1><p>This page embeds the Rapport chat widget with one tag:</p>\
         <pre style=\"background:#f3f4f6;padding:1rem;border-radius:8px;overflow:auto\">\
         &lt;script src=\"/widget.js\" defer&gt;&lt;/script&gt;</pre>\
         <p>Open the chat in the bottom right corner and ask a question.</p>\
         <script src=\"/widget.js\" defer></script></body></html>"
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
