//! `GET /api/v1/events`: the agents' live feed (server-sent events), scoped to the caller's
//! workspace. It polls the store about once a second (`rapport_store::activity`), so events from
//! every process sharing the database arrive, and says what changed: `escalation`
//! (`{id, conversation_id, status}` when one is created, claimed or resolved) and `message`
//! (`{id, conversation_id, contact_id, author}`), and, for the caller alone, `notification`
//! (the notification: an assignment, a task due). Clients re-read the resource they show.
//!
//! Message events carry the message id as the event id, so a client that reconnects with
//! `Last-Event-ID` (browsers do it by themselves) is sent the messages it missed; every
//! connection starts with `ready`, on which a client re-reads what it shows.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::Stream;
use rapport_core::ids::WorkspaceId;

use crate::App;
use crate::auth::Caller;
use crate::error::ApiError;

const POLL: Duration = Duration::from_secs(1);
const WINDOW: i64 = 500;

pub fn router() -> Router<App> {
    Router::new().route("/events", get(events))
}

struct Watch {
    app: App,
    ws: WorkspaceId,
    user_id: i64,
    last_message: i64,
    last_notification: i64,
    escalations: HashMap<i64, String>,
    first: bool,
}

impl Watch {
    /// One poll: the events since the previous one (none on a store error; the next poll retries).
    async fn poll(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        if self.first {
            self.first = false;
            out.push(Event::default().event("ready").data("{}"));
        } else {
            tokio::time::sleep(POLL).await;
        }
        if let Ok(states) = self.app.store.escalation_states(self.ws, WINDOW).await {
            for s in states.into_iter().rev() {
                if self.escalations.get(&s.id) != Some(&s.status) {
                    self.escalations.insert(s.id, s.status.clone());
                    if let Ok(data) = serde_json::to_string(&s) {
                        out.push(Event::default().event("escalation").data(data));
                    }
                }
            }
        }
        if let Ok(messages) = self
            .app
            .store
            .messages_after(self.ws, self.last_message, WINDOW)
            .await
        {
            for m in messages {
                self.last_message = self.last_message.max(m.id);
                if let Ok(data) = serde_json::to_string(&m) {
                    out.push(
                        Event::default()
                            .event("message")
                            .id(m.id.to_string())
                            .data(data),
                    );
                }
            }
        }
        if let Ok(notes) = self
            .app
            .store
            .notifications(
                self.ws,
                self.user_id,
                Some(self.last_notification),
                false,
                50,
            )
            .await
        {
            for n in notes {
                self.last_notification = self.last_notification.max(n.id);
                if let Ok(data) = serde_json::to_string(&n) {
                    out.push(Event::default().event("notification").data(data));
                }
            }
        }
        out
    }
}

#[utoipa::path(get, path = "/api/v1/events", tag = "conversations",
    responses((status = 200, description = "text/event-stream"), (status = 401, body = crate::error::ErrorBody)))]
pub async fn events(
    State(app): State<App>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let ws = caller.workspace;
    // What happens from now on (the page loaded the current state itself), or from the last
    // event a reconnecting client saw.
    let newest = app.store.last_message_id(ws).await?;
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|id| (0..=newest).contains(id));
    let last_message = resumed.unwrap_or(newest);
    let escalations = app
        .store
        .escalation_states(ws, WINDOW)
        .await?
        .into_iter()
        .map(|s| (s.id, s.status))
        .collect();
    let last_notification = app.store.last_notification_id(ws, caller.user_id).await?;
    let watch = Watch {
        app,
        ws,
        user_id: caller.user_id,
        last_message,
        last_notification,
        escalations,
        first: true,
    };
    let stream = futures::stream::unfold(watch, |mut w| async move {
        let batch = w.poll().await;
        Some((futures::stream::iter(batch.into_iter().map(Ok)), w))
    });
    use futures::StreamExt;
    Ok(Sse::new(stream.flatten()).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
