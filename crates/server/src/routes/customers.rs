//! `/api/v1/messages`, `/contacts`, `/conversations` and `/escalations`: what channels and
//! agents call into the agent with. Each handler parses, calls one method of
//! [`rapport_agent::Agent`] (or the store, for plain reads) and maps its errors.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rapport_agent::Inbound;
use rapport_agent::identity::{IdentityClaim, SignedIdentity};
use rapport_core::domain::{Channel, EscalationStatus, Resolution};
use rapport_core::ids::{ContactId, ConversationId, EscalationId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::App;
use crate::auth::Caller;
use crate::error::ApiError;

pub fn router() -> Router<App> {
    Router::new()
        .route("/messages", post(post_message))
        .route("/contacts", get(search_contacts))
        .route("/contacts/{id}", get(get_contact))
        .route("/contacts/{id}/timeline", get(get_timeline))
        .route("/contacts/{id}/merge", post(merge_contact))
        .route("/contacts/{id}/unmerge", post(unmerge_contact))
        .route("/contacts/{id}/facts", get(list_facts).post(add_fact))
        .route(
            "/contacts/{id}/facts/{fact}",
            put(edit_fact).delete(delete_fact),
        )
        .route("/conversations/{id}", get(get_conversation))
        .route("/conversations/{id}/messages", post(post_agent_message))
        .route("/messages/{id}/retry", post(retry_delivery))
        .route("/messages/{id}/media", get(get_media))
        .route("/conversations/{id}/handback", post(hand_back))
        .route("/conversations/{id}/resolve", post(resolve))
        .route("/escalations", get(list_escalations))
        .route("/escalations/{id}", get(get_escalation))
        .route("/escalations/{id}/claim", post(claim_escalation))
        .route("/escalations/{id}/assign", post(assign_escalation))
}

/// The sender of a message posted over the API.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    /// The caller's own id for this customer (required unless `signed` names a user).
    #[serde(default)]
    pub external_id: Option<String>,
    pub name: Option<String>,
    /// Phone or e-mail the caller vouches for (the API is the business's own integration):
    /// they merge this customer with others who proved the same.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// A web-chat identity signed with the workspace's identity secret.
    #[schema(value_type = Option<Object>)]
    pub signed: Option<SignedIdentity>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// `api` (default), or the channel a custom integration relays (`web`, `email`…).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub channel: Option<Channel>,
    pub sender: Sender,
    pub text: String,
    /// The caller's message id: a retry with the same id is stored and answered once.
    pub message_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub contact_id: i64,
    pub conversation_id: i64,
    pub message_id: i64,
    pub duplicate: bool,
    /// A human owns the conversation; the bot will not answer.
    pub human_owned: bool,
}

impl From<rapport_agent::Received> for Accepted {
    fn from(r: rapport_agent::Received) -> Self {
        Accepted {
            contact_id: r.contact_id.0,
            conversation_id: r.conversation_id.0,
            message_id: r.message_id.0,
            duplicate: r.duplicate,
            human_owned: r.human_owned,
        }
    }
}

/// Limits of what a message may carry.
pub(crate) const MAX_TEXT_CHARS: usize = 8_000;

pub(crate) fn claim_of(
    app: &App,
    channel: Channel,
    sender: Sender,
) -> Result<IdentityClaim, ApiError> {
    let mut claim = IdentityClaim {
        channel: Some(channel),
        external_id: sender.external_id.clone().unwrap_or_default(),
        name: sender.name,
        verified_phone: sender.phone,
        verified_email: sender.email,
        ..IdentityClaim::default()
    };
    if let Some(signed) = sender.signed {
        let secret = app
            .channels
            .config()
            .secrets
            .identity_secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        signed
            .verify(&secret)
            .map_err(|_| ApiError::BadRequest("the identity signature does not match".into()))?;
        if let Some(user) = &signed.user_id {
            claim.external_id = format!("user:{user}");
        }
        claim.verified_phone = claim.verified_phone.or(signed.phone);
        claim.verified_email = claim.verified_email.or(signed.email);
    }
    if claim.external_id.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "sender.external_id is required (or a signed user_id)".into(),
        ));
    }
    Ok(claim)
}

/// Stores a customer message and queues the bot's reply (202: the reply comes later).
#[utoipa::path(post, path = "/api/v1/messages", tag = "conversations", request_body = PostMessage,
    responses((status = 202, body = Accepted), (status = 400, body = crate::error::ErrorBody)))]
pub async fn post_message(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<PostMessage>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    if body.text.trim().is_empty() {
        return Err(ApiError::BadRequest("text is empty".into()));
    }
    if body.text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::TooLarge(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    let channel = body.channel.unwrap_or(Channel::Api);
    let inbound = Inbound {
        claim: claim_of(&app, channel, body.sender)?,
        provider_message_id: body.message_id,
        kind: "text".into(),
        text: body.text,
        ..Inbound::default()
    };
    let r = app.agent.receive(caller.workspace, &inbound, true).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted::from(r))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ContactSearch {
    /// Part of a name, e-mail, phone or channel id (at least 2 characters).
    pub q: String,
}

/// Finds customers by name, e-mail, phone or any channel id (to merge the same person).
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", params(ContactSearch),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub async fn search_contacts(
    State(app): State<App>,
    caller: Caller,
    Query(search): Query<ContactSearch>,
) -> Result<Json<Value>, ApiError> {
    if search.q.trim().chars().count() < 2 {
        return Err(ApiError::BadRequest(
            "search with at least 2 characters".into(),
        ));
    }
    let contacts = app
        .store
        .search_contacts(caller.workspace, &search.q, 20)
        .await?;
    Ok(Json(json!({ "contacts": contacts })))
}

/// The customer: profile, identities on every channel, merge keys, memory and facts.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "contacts", responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_contact(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<rapport_agent::customer::CustomerProfile>, ApiError> {
    Ok(Json(
        app.agent.customer(caller.workspace, ContactId(id)).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TimelineQuery {
    /// The newest messages only (default: all).
    pub limit: Option<i64>,
}

/// Every message of the customer on every channel, oldest first, with channel and author.
#[utoipa::path(get, path = "/api/v1/contacts/{id}/timeline", tag = "contacts", responses((status = 200, body = Object)))]
pub async fn get_timeline(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<Json<Value>, ApiError> {
    let messages = app
        .agent
        .timeline(caller.workspace, ContactId(id), q.limit)
        .await?;
    let tasks = app
        .desk
        .customer_tasks(caller.workspace, ContactId(id))
        .await?;
    Ok(Json(json!({ "messages": messages, "tasks": tasks })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The contact that joins this one.
    pub contact_id: i64,
}

/// Merges another contact into this one (an agent knows they are the same person).
#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge", tag = "contacts", request_body = MergeBody,
    responses((status = 200, body = Object), (status = 409, body = crate::error::ErrorBody)))]
pub async fn merge_contact(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<MergeBody>,
) -> Result<Json<rapport_agent::customer::CustomerProfile>, ApiError> {
    Ok(Json(
        app.agent
            .merge(caller.workspace, ContactId(id), ContactId(body.contact_id))
            .await?,
    ))
}

/// Undoes a merge: this contact leaves with its own identities and messages.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/unmerge", tag = "contacts",
    responses((status = 200, body = Object), (status = 409, body = crate::error::ErrorBody)))]
pub async fn unmerge_contact(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<rapport_agent::customer::CustomerProfile>, ApiError> {
    Ok(Json(
        app.agent.unmerge(caller.workspace, ContactId(id)).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactBody {
    pub key: String,
    pub value: String,
}

fn check_fact(body: &FactBody) -> Result<(), ApiError> {
    if body.key.trim().is_empty() || body.value.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "key and value must not be empty".into(),
        ));
    }
    if body.key.len() > 100 || body.value.len() > 1_000 {
        return Err(ApiError::BadRequest("key or value is too long".into()));
    }
    Ok(())
}

/// What Rapport remembers about the customer.
#[utoipa::path(get, path = "/api/v1/contacts/{id}/facts", tag = "contacts", responses((status = 200, body = Object)))]
pub async fn list_facts(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let profile = app.agent.customer(caller.workspace, ContactId(id)).await?;
    Ok(Json(
        json!({ "summary": profile.contact.memory_summary, "facts": profile.facts }),
    ))
}

/// An agent adds a fact; automatic memory updates never overwrite what agents wrote.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/facts", tag = "contacts", request_body = FactBody, responses((status = 201, body = Object)))]
pub async fn add_fact(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<FactBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_fact(&body)?;
    let root = app
        .store
        .root_contact(caller.workspace, ContactId(id))
        .await?;
    let fact = app
        .store
        .add_fact(caller.workspace, root, body.key.trim(), body.value.trim())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(fact))))
}

/// An agent corrects a fact.
#[utoipa::path(put, path = "/api/v1/contacts/{id}/facts/{fact}", tag = "contacts", request_body = FactBody, responses((status = 200, body = Object)))]
pub async fn edit_fact(
    State(app): State<App>,
    caller: Caller,
    Path((_id, fact)): Path<(i64, i64)>,
    Json(body): Json<FactBody>,
) -> Result<Json<Value>, ApiError> {
    check_fact(&body)?;
    let fact = app
        .store
        .edit_fact(caller.workspace, fact, body.key.trim(), body.value.trim())
        .await?;
    Ok(Json(json!(fact)))
}

/// An agent removes a wrong fact; it is not extracted again.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}/facts/{fact}", tag = "contacts", responses((status = 204)))]
pub async fn delete_fact(
    State(app): State<App>,
    caller: Caller,
    Path((_id, fact)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    app.store.delete_fact(caller.workspace, fact).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A conversation with its messages (bot messages carry their decision trace), the calls
/// actions made in it and its events (routed, assigned with the reason, SLA alerts).
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations", responses((status = 200, body = Object)))]
pub async fn get_conversation(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let conversation = app
        .store
        .conversation(caller.workspace, ConversationId(id))
        .await?;
    let messages = app
        .store
        .conversation_messages(caller.workspace, ConversationId(id))
        .await?;
    let escalation = app
        .store
        .open_escalation(caller.workspace, ConversationId(id))
        .await?;
    // The calls actions made here: events on the timeline, not messages.
    let actions = app
        .store
        .action_calls_of(caller.workspace, ConversationId(id))
        .await?;
    // Routing, assignments, priority changes and SLA alerts.
    let events = app
        .store
        .conversation_events(caller.workspace, ConversationId(id))
        .await?;
    Ok(Json(json!({
        "conversation": conversation,
        "messages": messages,
        "open_escalation": escalation,
        "actions": actions,
        "events": events,
    })))
}

/// Gives the conversation back to the bot (escalations close; guards count afresh).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/handback", tag = "conversations", responses((status = 204)))]
pub async fn hand_back(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    app.store
        .hand_back_to_bot(caller.workspace, ConversationId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `human` (default) or `ai`.
    #[schema(value_type = Option<String>)]
    pub resolution: Option<Resolution>,
}

/// Closes the conversation; the customer's memory is refreshed right away.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/resolve", tag = "conversations", request_body = ResolveBody, responses((status = 204)))]
pub async fn resolve(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Option<Json<ResolveBody>>,
) -> Result<StatusCode, ApiError> {
    let resolution = body
        .and_then(|Json(b)| b.resolution)
        .unwrap_or(Resolution::Human);
    app.agent
        .resolve(caller.workspace, ConversationId(id), resolution)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EscalationFilter {
    /// open | claimed | resolved; all when absent.
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// Escalations, newest first: reason, journey summary, sources consulted, draft.
#[utoipa::path(get, path = "/api/v1/escalations", tag = "conversations", responses((status = 200, body = Object)))]
pub async fn list_escalations(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<EscalationFilter>,
) -> Result<Json<Value>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(str::parse::<EscalationStatus>)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let list = app
        .store
        .escalations(
            caller.workspace,
            status,
            q.limit.unwrap_or(50).clamp(1, 500),
        )
        .await?;
    Ok(Json(json!({ "escalations": list })))
}

#[utoipa::path(get, path = "/api/v1/escalations/{id}", tag = "conversations", responses((status = 200, body = Object)))]
pub async fn get_escalation(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.store
            .escalation(caller.workspace, EscalationId(id))
            .await?
    )))
}

/// A human takes the conversation: the bot stays silent until hand-back.
#[utoipa::path(post, path = "/api/v1/escalations/{id}/claim", tag = "conversations", responses((status = 200, body = Object)))]
pub async fn claim_escalation(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let agent = crate::routes::desk::agent(&caller);
    Ok(Json(json!(
        app.desk
            .claim_escalation(caller.workspace, &agent, EscalationId(id))
            .await?
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The colleague who takes the conversation (an active user of the workspace).
    pub user_id: i64,
}

/// Gives the conversation to a colleague: it is theirs as if they had claimed it.
#[utoipa::path(post, path = "/api/v1/escalations/{id}/assign", tag = "conversations", request_body = AssignBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn assign_escalation(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<AssignBody>,
) -> Result<Json<Value>, ApiError> {
    let agent = crate::routes::desk::agent(&caller);
    Ok(Json(json!(
        app.desk
            .assign_escalation(caller.workspace, &agent, EscalationId(id), body.user_id)
            .await?
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentMessage {
    pub text: String,
    /// An internal note, seen by agents only (default false: a reply to the customer).
    #[serde(default)]
    pub internal: bool,
    /// The channel to answer on; default: where the customer last wrote in this conversation.
    #[schema(value_type = Option<String>)]
    pub channel: Option<Channel>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentMessageSent {
    pub message_id: i64,
    /// `queued` for a reply (the outbox delivers it), absent for a note.
    pub delivery_status: Option<String>,
}

/// A person answers the customer (through the outbox, on the customer's channel) or leaves an
/// internal note. A reply takes over a conversation that was waiting for a human.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations", request_body = AgentMessage,
    responses((status = 201, body = AgentMessageSent), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn post_agent_message(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<AgentMessage>,
) -> Result<(StatusCode, Json<AgentMessageSent>), ApiError> {
    let conversation = ConversationId(id);
    let (message_id, delivery_status) = if body.internal {
        let id = app
            .agent
            .add_note(
                caller.workspace,
                conversation,
                &body.text,
                Some(caller.user_id),
            )
            .await?;
        (id, None)
    } else {
        let id = app
            .agent
            .send_as_agent(
                caller.workspace,
                conversation,
                &body.text,
                body.channel,
                Some(caller.user_id),
            )
            .await?;
        (id, Some("queued".to_owned()))
    };
    Ok((
        StatusCode::CREATED,
        Json(AgentMessageSent {
            message_id: message_id.0,
            delivery_status,
        }),
    ))
}

/// Queues a failed message for delivery again (after its cause was fixed).
#[utoipa::path(post, path = "/api/v1/messages/{id}/retry", tag = "conversations",
    responses((status = 202), (status = 409, body = crate::error::ErrorBody)))]
pub async fn retry_delivery(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if app
        .store
        .retry_delivery(caller.workspace, rapport_core::ids::MessageId(id))
        .await?
    {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::Conflict(format!(
            "message {id} has no failed delivery to retry"
        )))
    }
}

/// The media of a customer's WhatsApp message (image, voice note, document…), fetched from the
/// Graph API when an agent opens it.
#[utoipa::path(get, path = "/api/v1/messages/{id}/media", tag = "conversations",
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = crate::error::ErrorBody),
        (status = 502, body = crate::error::ErrorBody)))]
pub async fn get_media(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let message = app
        .store
        .message_with_attachments(caller.workspace, rapport_core::ids::MessageId(id))
        .await?;
    if message.channel != Channel::Whatsapp.as_str()
        || rapport_channels::whatsapp::media_id(&message.attachments).is_none()
    {
        return Err(ApiError::NotFound(format!("message {id} has no media")));
    }
    let fetcher = app.channels.whatsapp_media().ok_or_else(|| {
        ApiError::Unavailable("WhatsApp is not configured (RAPPORT_WHATSAPP_ACCESS_TOKEN)".into())
    })?;
    let media = fetcher
        .fetch(&message.attachments)
        .await
        .map_err(|e| ApiError::BadGateway(format!("WhatsApp media: {e}")))?;
    let (content_type, disposition) = served_as(&media.content_type, media.filename.as_deref());
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
            (
                axum::http::header::HeaderName::from_static("x-content-type-options"),
                "nosniff".to_owned(),
            ),
            // Whatever the bytes are, nothing in them runs in the agent's session.
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'".to_owned(),
            ),
        ],
        media.bytes,
    )
        .into_response())
}

/// A customer chooses what they send: only pictures, sound and video are shown in the browser,
/// under their own (checked) type; anything else — HTML, SVG, PDF, a document — is a download
/// of opaque bytes, so no script a customer wrote runs where the agent is signed in.
fn served_as(content_type: &str, filename: Option<&str>) -> (String, String) {
    const SHOWN: [&str; 11] = [
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "video/mp4",
        "video/3gpp",
    ];
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let shown = SHOWN.contains(&essence.as_str());
    let name = filename
        .map(|n| n.replace(|c: char| c == '"' || c == '\\' || c.is_control(), "_"))
        .map(|n| format!("; filename=\"{n}\""))
        .unwrap_or_default();
    if shown {
        (essence, format!("inline{name}"))
    } else {
        (
            "application/octet-stream".into(),
            format!("attachment{name}"),
        )
    }
}
