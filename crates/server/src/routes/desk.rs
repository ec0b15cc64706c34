//! `/api/v1/canned-replies`, `/tasks`, `/presence`, `/notifications`, `/teams`,
//! `/sla-policies`, an escalation's priority, conversation search and the copilot: the agents'
//! workspace around the inbox. Every route is for a signed-in agent and acts as them; the rules (who may
//! edit a shared reply, whom a task may be given to) live in `rapport_desk`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rapport_core::ids::{ConversationId, EscalationId};
use rapport_desk::AgentRef;
use rapport_desk::canned::CannedInput;
use rapport_desk::presence::Heartbeat;
use rapport_desk::search::SearchInput;
use rapport_desk::tasks::{TaskInput, TaskQuery};
use rapport_desk::teams::{SlaInput, TeamInput};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::App;
use crate::auth::{Admin, Caller};
use crate::error::ApiError;

pub fn router() -> Router<App> {
    Router::new()
        .route(
            "/canned-replies",
            get(list_canned_replies).post(create_canned_reply),
        )
        .route(
            "/canned-replies/{id}",
            put(update_canned_reply).delete(delete_canned_reply),
        )
        .route("/canned-replies/{id}/render", post(render_canned_reply))
        .route("/tasks", get(list_tasks).post(create_task))
        .route("/tasks/{id}", put(update_task).delete(delete_task))
        .route("/tasks/{id}/done", post(complete_task))
        .route("/tasks/{id}/reopen", post(reopen_task))
        .route("/presence", get(team_presence).post(heartbeat))
        .route("/notifications", get(list_notifications))
        .route("/notifications/read", post(mark_read))
        .route("/teams", get(list_teams).post(create_team))
        .route("/teams/{id}", put(update_team).delete(delete_team))
        .route(
            "/sla-policies",
            get(list_sla_policies).post(create_sla_policy),
        )
        .route(
            "/sla-policies/{id}",
            put(update_sla_policy).delete(delete_sla_policy),
        )
        .route("/escalations/{id}/priority", post(set_priority))
        .route("/conversations", get(search_conversations))
        .route("/conversations/{id}/copilot/summary", post(copilot_summary))
        .route("/conversations/{id}/copilot/reply", post(copilot_reply))
        .route("/copilot/translate", post(copilot_translate))
}

/// The desk's view of the caller.
pub(crate) fn agent(caller: &Caller) -> AgentRef {
    AgentRef {
        user_id: caller.user_id,
        name: caller.name.clone(),
        email: caller.email.clone(),
        is_admin: caller.is_admin(),
    }
}

/// A canned reply to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    /// Typed after `/` in the reply box: letters, digits, `-` and `_`.
    pub shortcut: String,
    pub title: String,
    /// The text, with `{{contact.first_name}}`, `{{agent.name}}`, `{{facts.KEY}}`,
    /// `{{conversation.channel}}`; `{{x | default("…")}}` for a missing value.
    pub body: String,
    /// Shared with the team (admins only); default: the author's own.
    #[serde(default)]
    pub shared: bool,
}

impl From<CannedBody> for CannedInput {
    fn from(b: CannedBody) -> Self {
        CannedInput {
            shortcut: b.shortcut,
            title: b.title,
            body: b.body,
            shared: b.shared,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CannedQuery {
    /// Matches shortcut, title and text; a leading `/` is ignored.
    pub q: Option<String>,
}

/// The replies the caller may use (the team's and their own), best match first.
#[utoipa::path(get, path = "/api/v1/canned-replies", tag = "inbox", params(CannedQuery),
    responses((status = 200, body = Object)))]
pub async fn list_canned_replies(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<CannedQuery>,
) -> Result<Json<Value>, ApiError> {
    let replies = app
        .desk
        .canned_replies(
            caller.workspace,
            &agent(&caller),
            q.q.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(Json(json!({ "canned_replies": replies })))
}

/// Adds a reply; a shortcut is unique among the team's replies and the author's own.
#[utoipa::path(post, path = "/api/v1/canned-replies", tag = "inbox", request_body = CannedBody,
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_canned_reply(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<CannedBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let reply = app
        .desk
        .create_canned_reply(caller.workspace, &agent(&caller), body.into())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(reply))))
}

#[utoipa::path(put, path = "/api/v1/canned-replies/{id}", tag = "inbox", request_body = CannedBody,
    responses((status = 200, body = Object), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_canned_reply(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<CannedBody>,
) -> Result<Json<Value>, ApiError> {
    let reply = app
        .desk
        .update_canned_reply(caller.workspace, &agent(&caller), id, body.into())
        .await?;
    Ok(Json(json!(reply)))
}

#[utoipa::path(delete, path = "/api/v1/canned-replies/{id}", tag = "inbox",
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_canned_reply(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    app.desk
        .delete_canned_reply(caller.workspace, &agent(&caller), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderBody {
    /// The conversation the reply is for: its customer's name, facts and channel fill the
    /// variables.
    #[serde(default)]
    pub conversation_id: Option<i64>,
}

/// The reply filled in for a conversation, ready to edit and send; counts a use.
#[utoipa::path(post, path = "/api/v1/canned-replies/{id}/render", tag = "inbox", request_body = RenderBody,
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn render_canned_reply(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Option<Json<RenderBody>>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let rendered = app
        .desk
        .render_canned_reply(
            caller.workspace,
            &agent(&caller),
            id,
            body.conversation_id.map(ConversationId),
        )
        .await?;
    Ok(Json(json!(rendered)))
}

/// A task to create or edit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    pub title: String,
    #[serde(default)]
    pub note: String,
    /// The conversation it follows up (its customer is the task's).
    #[serde(default)]
    pub conversation_id: Option<i64>,
    /// The customer, for a task not about one conversation.
    #[serde(default)]
    pub contact_id: Option<i64>,
    /// Whose task; default the caller's own. They are notified.
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// RFC 3339; the assignee is reminded then.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub due_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<TaskBody> for TaskInput {
    fn from(b: TaskBody) -> Self {
        TaskInput {
            title: b.title,
            note: b.note,
            conversation_id: b.conversation_id,
            contact_id: b.contact_id,
            assignee_id: b.assignee_id,
            due_at: b.due_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TasksQuery {
    /// `me`, a user id, or absent for everyone's.
    pub assignee: Option<String>,
    /// One customer's tasks (every contact merged with this one).
    pub contact_id: Option<i64>,
    pub conversation_id: Option<i64>,
    /// Only open tasks.
    #[serde(default)]
    pub open: bool,
}

/// Tasks, open first and soonest due first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "inbox", params(TasksQuery),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_tasks(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<TasksQuery>,
) -> Result<Json<Value>, ApiError> {
    let query = TaskQuery {
        assignee: q.assignee,
        contact_id: q.contact_id,
        conversation_id: q.conversation_id,
        open: q.open,
    };
    let tasks = app
        .desk
        .tasks(caller.workspace, &agent(&caller), &query)
        .await?;
    Ok(Json(json!({ "tasks": tasks })))
}

#[utoipa::path(post, path = "/api/v1/tasks", tag = "inbox", request_body = TaskBody,
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn create_task(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<TaskBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let task = app
        .desk
        .create_task(caller.workspace, &agent(&caller), body.into())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(task))))
}

/// Edits a task; a new due time reminds again.
#[utoipa::path(put, path = "/api/v1/tasks/{id}", tag = "inbox", request_body = TaskBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_task(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<TaskBody>,
) -> Result<Json<Value>, ApiError> {
    let task = app
        .desk
        .update_task(caller.workspace, &agent(&caller), id, body.into())
        .await?;
    Ok(Json(json!(task)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoneBody {
    /// What came of it ("refund confirmed by phone").
    #[serde(default)]
    pub outcome: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/done", tag = "inbox", request_body = DoneBody,
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn complete_task(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Option<Json<DoneBody>>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let task = app
        .desk
        .complete_task(
            caller.workspace,
            &agent(&caller),
            id,
            body.outcome.as_deref(),
        )
        .await?;
    Ok(Json(json!(task)))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/reopen", tag = "inbox",
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn reopen_task(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        app.desk.reopen_task(caller.workspace, id).await?
    )))
}

#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "inbox",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_task(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    app.desk.delete_task(caller.workspace, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everyone's status as others see it: `online`, `away` (idle or chosen) or `offline`
/// (chosen, or no heartbeat for a while).
#[utoipa::path(get, path = "/api/v1/presence", tag = "inbox", responses((status = 200, body = Object)))]
pub async fn team_presence(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let team = app.desk.team_presence(caller.workspace).await?;
    Ok(Json(json!({ "presence": team })))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBody {
    /// `online`, `away` or `offline`, when the agent picks one; absent keeps the last choice.
    #[serde(default)]
    pub status: Option<String>,
    /// The agent did something since the last beat.
    #[serde(default)]
    pub active: bool,
}

/// The app's heartbeat (every ~30 s while open), with the agent's chosen status.
#[utoipa::path(post, path = "/api/v1/presence", tag = "inbox", request_body = HeartbeatBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub async fn heartbeat(
    State(app): State<App>,
    caller: Caller,
    body: Option<Json<HeartbeatBody>>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let beat = Heartbeat {
        status: body.status,
        active: body.active,
    };
    let presence = app
        .desk
        .beat(caller.workspace, &agent(&caller), beat)
        .await?;
    Ok(Json(json!(presence)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationsQuery {
    /// Only unread ones.
    #[serde(default)]
    pub unread: bool,
}

/// The caller's notifications, newest first, and the unread count.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "inbox", params(NotificationsQuery),
    responses((status = 200, body = Object)))]
pub async fn list_notifications(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<NotificationsQuery>,
) -> Result<Json<Value>, ApiError> {
    let inbox = app
        .desk
        .notifications(caller.workspace, &agent(&caller), q.unread)
        .await?;
    Ok(Json(json!(inbox)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    /// The notifications read; empty or absent: all of them.
    #[serde(default)]
    pub ids: Vec<i64>,
}

#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "inbox", request_body = ReadBody,
    responses((status = 200, body = Object)))]
pub async fn mark_read(
    State(app): State<App>,
    caller: Caller,
    body: Option<Json<ReadBody>>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let unread = app
        .desk
        .mark_read(caller.workspace, &agent(&caller), &body.ids)
        .await?;
    Ok(Json(json!({ "unread": unread })))
}

/// A team to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    pub name: String,
    /// Hand-off topics and intents routed to the team (`billing`, `refund_request`); `*` takes
    /// what no other team does.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Open conversations per member before routing passes them over (default 5).
    #[serde(default)]
    pub capacity: Option<i64>,
    /// The members' user ids.
    #[serde(default)]
    pub members: Vec<i64>,
    /// A routing rule: whoever routing gives one of the team's conversations to gets a
    /// follow-up task due this many minutes later.
    #[serde(default)]
    pub follow_up_minutes: Option<i64>,
}

impl From<TeamBody> for TeamInput {
    fn from(b: TeamBody) -> Self {
        TeamInput {
            name: b.name,
            topics: b.topics,
            capacity: b.capacity,
            members: b.members,
            follow_up_minutes: b.follow_up_minutes,
        }
    }
}

/// The workspace's teams with their topics, capacity and members.
#[utoipa::path(get, path = "/api/v1/teams", tag = "inbox", responses((status = 200, body = Object)))]
pub async fn list_teams(State(app): State<App>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "teams": app.desk.teams(caller.workspace).await? }),
    ))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "inbox", request_body = TeamBody,
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_team(
    State(app): State<App>,
    admin: Admin,
    Json(body): Json<TeamBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let team = app.desk.create_team(admin.workspace, body.into()).await?;
    Ok((StatusCode::CREATED, Json(json!(team))))
}

#[utoipa::path(put, path = "/api/v1/teams/{id}", tag = "inbox", request_body = TeamBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_team(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Json(body): Json<TeamBody>,
) -> Result<Json<Value>, ApiError> {
    let team = app
        .desk
        .update_team(admin.workspace, id, body.into())
        .await?;
    Ok(Json(json!(team)))
}

#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "inbox",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_team(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    app.desk.delete_team(admin.workspace, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An SLA policy to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaBody {
    pub name: String,
    /// whatsapp, instagram, web, email or api; absent: every channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// normal, high or urgent; absent: every priority.
    #[serde(default)]
    pub priority: Option<String>,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    /// Count only business hours (default true).
    #[serde(default)]
    pub business_hours: Option<bool>,
}

impl From<SlaBody> for SlaInput {
    fn from(b: SlaBody) -> Self {
        SlaInput {
            name: b.name,
            channel: b.channel,
            priority: b.priority,
            first_response_minutes: b.first_response_minutes,
            resolution_minutes: b.resolution_minutes,
            business_hours: b.business_hours,
        }
    }
}

/// SLA policies; an escalation gets the most specific one for its channel and priority.
#[utoipa::path(get, path = "/api/v1/sla-policies", tag = "inbox", responses((status = 200, body = Object)))]
pub async fn list_sla_policies(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "sla_policies": app.desk.sla_policies(caller.workspace).await? }),
    ))
}

#[utoipa::path(post, path = "/api/v1/sla-policies", tag = "inbox", request_body = SlaBody,
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn create_sla_policy(
    State(app): State<App>,
    admin: Admin,
    Json(body): Json<SlaBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let policy = app
        .desk
        .create_sla_policy(admin.workspace, body.into())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(policy))))
}

#[utoipa::path(put, path = "/api/v1/sla-policies/{id}", tag = "inbox", request_body = SlaBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn update_sla_policy(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Json(body): Json<SlaBody>,
) -> Result<Json<Value>, ApiError> {
    let policy = app
        .desk
        .update_sla_policy(admin.workspace, id, body.into())
        .await?;
    Ok(Json(json!(policy)))
}

#[utoipa::path(delete, path = "/api/v1/sla-policies/{id}", tag = "inbox",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_sla_policy(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    app.desk.delete_sla_policy(admin.workspace, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    /// normal, high or urgent.
    pub priority: String,
}

/// Changes an escalation's priority; its SLA due times follow the matching policy.
#[utoipa::path(post, path = "/api/v1/escalations/{id}/priority", tag = "conversations", request_body = PriorityBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn set_priority(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<PriorityBody>,
) -> Result<Json<Value>, ApiError> {
    let escalation = app
        .desk
        .set_priority(
            caller.workspace,
            &agent(&caller),
            EscalationId(id),
            &body.priority,
        )
        .await?;
    Ok(Json(json!(escalation)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Words in a message, or the customer's name, e-mail, phone or channel id.
    pub q: Option<String>,
    /// whatsapp, instagram, web, email, api.
    pub channel: Option<String>,
    /// bot, waiting_human, human or resolved.
    pub status: Option<String>,
    /// `me` or a user id.
    pub assignee: Option<String>,
    /// First day, YYYY-MM-DD (UTC), inclusive.
    #[param(value_type = Option<String>)]
    pub from: Option<chrono::NaiveDate>,
    /// Last day, YYYY-MM-DD (UTC), inclusive.
    #[param(value_type = Option<String>)]
    pub to: Option<chrono::NaiveDate>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<i64>,
}

/// Finds conversations by text, customer, channel, status, assignee and date, most recently
/// active first, each with the newest matching message.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(SearchQuery),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub async fn search_conversations(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let input = SearchInput {
        q: q.q,
        channel: q.channel,
        status: q.status,
        assignee: q.assignee,
        from: q.from,
        to: q.to,
        limit: q.limit,
    };
    let found = app
        .desk
        .search_conversations(caller.workspace, &agent(&caller), input)
        .await?;
    Ok(Json(json!({ "conversations": found })))
}

/// The customer's journey so far, summarised (by the configured model, else extractively).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/copilot/summary", tag = "conversations",
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn copilot_summary(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let summary = app
        .agent
        .copilot_summary(caller.workspace, ConversationId(id))
        .await?;
    Ok(Json(json!(summary)))
}

/// A reply to the customer's latest message drafted from the knowledge, with its citations;
/// nothing is sent.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/copilot/reply", tag = "conversations",
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn copilot_reply(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let suggestion = app
        .agent
        .copilot_suggest(caller.workspace, ConversationId(id))
        .await?;
    Ok(Json(json!(suggestion)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateBody {
    /// The customer's message or the agent's draft.
    pub text: String,
    /// The language to translate into: a name (`English`) or a code (`es`).
    pub target: String,
}

/// Translates a message between the customer's language and the agent's (needs a language
/// model; without one, 400).
#[utoipa::path(post, path = "/api/v1/copilot/translate", tag = "conversations", request_body = TranslateBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub async fn copilot_translate(
    State(app): State<App>,
    _caller: Caller,
    Json(body): Json<TranslateBody>,
) -> Result<Json<Value>, ApiError> {
    let translated = app
        .agent
        .copilot_translate(&body.text, &body.target)
        .await?;
    Ok(Json(json!(translated)))
}
