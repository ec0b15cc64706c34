//! `/api/v1/auth`, `/users` and `/tokens`: signing in and out, one's own password, the team
//! (admins only) and API tokens (shown once; admins see and revoke every token of their
//! workspace, agents their own).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use rapport_core::domain::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::App;
use crate::auth::{Admin, Caller, SESSION_COOKIE, auth_error, cookie};
use crate::error::ApiError;

pub fn router() -> Router<App> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
        .route("/auth/password", post(change_password))
        .route("/users", get(list_users).post(create_user))
        .route("/team", get(team))
        .route("/users/{id}", patch(update_user))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", axum::routing::delete(revoke_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: i64,
    pub workspace_id: i64,
    pub email: String,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    /// Send it back as `X-CSRF-Token` with every change made with the session cookie.
    pub csrf_token: Option<String>,
}

fn me_of(c: &rapport_auth::Caller) -> Me {
    Me {
        user_id: c.user_id,
        workspace_id: c.workspace.0,
        email: c.email.clone(),
        name: c.name.clone(),
        role: c.role,
        csrf_token: match &c.proof {
            rapport_auth::Proof::Session { csrf_token } => Some(csrf_token.clone()),
            rapport_auth::Proof::Token => None,
        },
    }
}

/// Whether the browser reached us over TLS (directly or through a proxy that says so).
fn over_tls(app: &App, headers: &HeaderMap) -> bool {
    app.config.auth.secure_cookies.unwrap_or_else(|| {
        headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    })
}

fn session_cookie(value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("rapport_session=; Path=/; Max-Age=0"))
}

/// Signs in with e-mail and password: sets the HttpOnly session cookie and returns the CSRF
/// token. Repeated failures for an address or from a client are refused for a while (429).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Login>,
) -> Result<Response, ApiError> {
    let signed = app
        .auth
        .sign_in(&body.email, &body.password, &peer.ip().to_string())
        .await
        .map_err(auth_error)?;
    let cookie = session_cookie(
        &signed.session_token,
        signed.expires_in.as_secs(),
        over_tls(&app, &headers),
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(me_of(&signed.caller))).into_response())
}

/// Ends this browser's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        app.auth.sign_out(token).await.map_err(auth_error)?;
    }
    let cookie = session_cookie("", 0, over_tls(&app, &headers));
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Who is signed in (and this session's CSRF token).
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(me_of(&caller))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes one's own password; every session of the user ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)))]
pub async fn change_password(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    app.auth
        .change_password(&caller, &body.current_password, &body.new_password)
        .await
        .map_err(auth_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The team of the caller's workspace.
#[utoipa::path(get, path = "/api/v1/users", tag = "auth", responses((status = 200, body = Object)))]
pub async fn list_users(State(app): State<App>, admin: Admin) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "users": app.store.users(admin.workspace).await? }),
    ))
}

/// Who can take a conversation: the active people of the caller's workspace, for agents and
/// admins alike (names and roles only).
#[utoipa::path(get, path = "/api/v1/team", tag = "auth", responses((status = 200, body = Object)))]
pub async fn team(State(app): State<App>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let members: Vec<Value> = app
        .store
        .users(caller.workspace)
        .await?
        .into_iter()
        .filter(|u| u.disabled_at.is_none())
        .map(|u| json!({ "id": u.id, "name": u.name, "email": u.email, "role": u.role }))
        .collect();
    Ok(Json(json!({ "members": members })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub password: String,
}

/// Adds an admin or agent to the caller's workspace.
#[utoipa::path(post, path = "/api/v1/users", tag = "auth", request_body = NewUser,
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_user(
    State(app): State<App>,
    admin: Admin,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = app
        .auth
        .create_user(
            admin.workspace,
            &body.email,
            &body.name,
            body.role,
            &body.password,
        )
        .await
        .map_err(auth_error)?;
    Ok((StatusCode::CREATED, Json(json!(user))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// Disabling signs the user out and revokes their tokens.
    pub disabled: Option<bool>,
}

/// Renames, changes the role of, disables or re-enables a user. The last active admin stays.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "auth", request_body = UserChange,
    responses((status = 200, body = Object), (status = 409, body = crate::error::ErrorBody)))]
pub async fn update_user(
    State(app): State<App>,
    admin: Admin,
    Path(id): Path<i64>,
    Json(body): Json<UserChange>,
) -> Result<Json<Value>, ApiError> {
    let target = app.store.user(admin.workspace, id).await?;
    let loses_admin = target.role == Role::Admin.as_str()
        && target.disabled_at.is_none()
        && (body.role == Some(Role::Agent) || body.disabled == Some(true));
    if loses_admin && app.store.count_admins(admin.workspace).await? <= 1 {
        return Err(ApiError::Conflict(
            "this is the last admin of the workspace".into(),
        ));
    }
    let user = app
        .store
        .update_user(
            admin.workspace,
            id,
            body.name.as_deref(),
            body.role.map(Role::as_str),
            body.disabled,
        )
        .await?;
    Ok(Json(json!(user)))
}

/// API tokens: every token of the workspace for an admin, one's own for an agent.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", responses((status = 200, body = Object)))]
pub async fn list_tokens(State(app): State<App>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let owner = (!caller.is_admin()).then_some(caller.user_id);
    Ok(Json(json!({
        "tokens": app.store.api_tokens(caller.workspace, owner).await?
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for ("CRM sync", "Telegram bridge").
    pub name: String,
}

/// A new API token acting as the caller. The token is in this answer only: store it now.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", request_body = NewToken,
    responses((status = 201, body = Object)))]
pub async fn create_token(
    State(app): State<App>,
    caller: Caller,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let issued = app
        .auth
        .issue_token(caller.workspace, caller.user_id, &body.name)
        .await
        .map_err(auth_error)?;
    Ok((StatusCode::CREATED, Json(json!(issued))))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth",
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke_token(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let owner = (!caller.is_admin()).then_some(caller.user_id);
    if app
        .store
        .revoke_api_token(caller.workspace, id, owner)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("token {id} not found")))
    }
}
