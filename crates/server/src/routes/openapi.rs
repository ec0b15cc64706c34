//! The OpenAPI document of the whole HTTP API. Each resource module adds its paths and schemas
//! to [`ApiDoc`] as it lands.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::App;
use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{
    actions, analytics, api_channel, auth, customers, desk, events, health, knowledge, playground,
    settings, widget,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Rapport API", description = "Self-hostable AI support agent. Errors are `{\"error\":{\"code\",\"message\"}}`."),
    paths(health::healthz, health::readyz, health::metrics, openapi_json,
        knowledge::list_sources, knowledge::create_source, knowledge::get_source, knowledge::delete_source,
        knowledge::resync_source, knowledge::list_documents, knowledge::get_document, knowledge::delete_document,
        knowledge::add_snippets, knowledge::import_snippets, knowledge::edit_snippet, knowledge::upload_files,
        knowledge::list_candidates, knowledge::approve_candidate, knowledge::reject_candidate, knowledge::search,
        customers::post_message, customers::search_contacts, customers::get_contact, customers::get_timeline, customers::merge_contact,
        customers::unmerge_contact, customers::list_facts, customers::add_fact, customers::edit_fact,
        customers::delete_fact, customers::get_conversation, customers::hand_back, customers::resolve,
        customers::list_escalations, customers::get_escalation, customers::claim_escalation, customers::assign_escalation, auth::team,
        customers::post_agent_message, customers::retry_delivery, customers::get_media, api_channel::post_api_message,
        auth::login, auth::logout, auth::me, auth::change_password, auth::list_users, auth::create_user,
        auth::update_user, auth::list_tokens, auth::create_token, auth::revoke_token,
        playground::ask, playground::batch, settings::get_settings, settings::put_settings,
        actions::list_actions, actions::create_action, actions::get_action, actions::update_action,
        actions::delete_action, actions::list_action_calls, actions::list_all_calls, analytics::get_report, analytics::get_unanswered, events::events,
        desk::list_canned_replies, desk::create_canned_reply, desk::update_canned_reply, desk::delete_canned_reply,
        desk::render_canned_reply, desk::list_tasks, desk::create_task, desk::update_task, desk::complete_task,
        desk::reopen_task, desk::delete_task, desk::team_presence, desk::heartbeat, desk::list_notifications, desk::mark_read,
        desk::list_teams, desk::create_team, desk::update_team, desk::delete_team, desk::list_sla_policies,
        desk::create_sla_policy, desk::update_sla_policy, desk::delete_sla_policy, desk::set_priority,
        desk::search_conversations, desk::copilot_summary, desk::copilot_reply, desk::copilot_translate,
        widget::start_session, widget::send_message, widget::list_messages, widget::events),
    components(schemas(ErrorBody, ErrorDetail, health::Health, health::Readiness, health::ReadinessChecks,
        knowledge::CreateSource, knowledge::SnippetBody, knowledge::SnippetList, knowledge::SourceList,
        knowledge::DocumentPage, knowledge::DocumentWithChunks, knowledge::Created, knowledge::CandidateList,
        knowledge::Review, knowledge::SearchRequest, knowledge::SearchResults,
        customers::PostMessage, customers::Sender, customers::Accepted, customers::MergeBody,
        customers::FactBody, customers::AssignBody, customers::ResolveBody, customers::AgentMessage, customers::AgentMessageSent,
        api_channel::ApiChannelMessage, auth::Login, auth::Me, auth::PasswordChange, auth::NewUser,
        auth::UserChange, auth::NewToken, playground::PlaygroundMessage, playground::PlaygroundReply,
        playground::Batch, playground::BatchRow, actions::ActionBody, desk::CannedBody, desk::RenderBody,
        desk::TaskBody, desk::DoneBody, desk::HeartbeatBody, desk::ReadBody, desk::TeamBody, desk::SlaBody, desk::PriorityBody, desk::TranslateBody, crate::settings::SettingsChange,
        widget::StartSession, widget::SessionView, widget::SendMessage, widget::MessageAccepted,
        widget::History, crate::widget::Appearance)),
    tags((name = "operations", description = "Health, readiness, metrics"),
         (name = "knowledge", description = "Knowledge sources, documents, snippets, candidates and search"),
         (name = "conversations", description = "Customer messages, conversations and escalations"),
         (name = "contacts", description = "One customer across channels: profile, timeline, memory, merge"),
         (name = "channels", description = "Inbound endpoints of custom integrations"),
         (name = "widget", description = "The web chat widget's public API: a visitor token, not a user's session; CORS for the allowed origins"),
         (name = "analytics", description = "Resolution, escalation, deflection, FCR, response and handle times, repeat contacts and CSAT, per channel and per journey"),
         (name = "settings", description = "The workspace's settings: bot persona, strictness, hand-off rules, business hours, model, channel credentials (write-only). Admins only"),
         (name = "actions", description = "HTTP calls the agent makes for a verified customer (order status, a cancellation) and the audit of every call. Admins only; secret header values are write-only"),
         (name = "inbox", description = "The agents' workspace: canned replies with variables, follow-up tasks and reminders, presence, notifications, teams and SLA policies (changed by admins)"),
         (name = "playground", description = "Test the bot as a simulated customer, one message or a batch"),
         (name = "auth", description = "Signing in, users and API tokens. Every other `/api/v1` route (but the widget's) needs a session cookie (with `X-CSRF-Token` on changes) or `Authorization: Bearer <API token>`"))
)]
pub struct ApiDoc;

pub fn router() -> Router<App> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
