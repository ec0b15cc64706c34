//! Extractors that say who is calling: [`Caller`] (any signed-in admin or agent, by session
//! cookie or API token) and [`Admin`]. A handler that names one cannot run for anyone else,
//! and takes its workspace from it. Cookie-authenticated changes must echo the session's CSRF
//! token in `X-CSRF-Token`, so another site cannot make a signed-in browser act.

use std::ops::Deref;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use rapport_auth::Proof;

use crate::App;
use crate::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "rapport_session";
/// The header a cookie-authenticated change carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in admin or agent.
#[derive(Debug, Clone)]
pub struct Caller(pub rapport_auth::Caller);

impl Deref for Caller {
    type Target = rapport_auth::Caller;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct Admin(pub rapport_auth::Caller);

impl Deref for Admin {
    type Target = rapport_auth::Caller;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The value of one cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Compares secrets (tokens, CSRF tokens) without leaking where they differ.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn authenticate(parts: &Parts, app: &App) -> Result<rapport_auth::Caller, ApiError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        return app
            .auth
            .token(token.trim())
            .await
            .map_err(auth_error)?
            .ok_or_else(|| ApiError::Unauthorized("the API token is unknown or revoked".into()));
    }
    let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Err(ApiError::Unauthorized(
            "sign in, or send an API token as `Authorization: Bearer …`".into(),
        ));
    };
    let caller = app
        .auth
        .session(session)
        .await
        .map_err(auth_error)?
        .ok_or_else(|| ApiError::Unauthorized("the session has ended; sign in again".into()))?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if let Proof::Session { csrf_token } = &caller.proof
        && !safe
    {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !constant_time_eq(sent, csrf_token) {
            return Err(ApiError::Forbidden(
                "missing or wrong X-CSRF-Token for this session".into(),
            ));
        }
    }
    Ok(caller)
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let caller = Caller(authenticate(parts, app).await?);
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl FromRequestParts<App> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let Caller(caller) = Caller::from_request_parts(parts, app).await?;
        caller.require_admin().map_err(auth_error)?;
        Ok(Admin(caller))
    }
}

/// How an auth failure looks to the client.
pub fn auth_error(e: rapport_auth::Error) -> ApiError {
    use rapport_auth::Error as A;
    match e {
        A::InvalidCredentials => ApiError::Unauthorized(e.to_string()),
        A::Throttled { retry_after } => ApiError::TooManyRequests {
            message: e.to_string(),
            retry_after,
        },
        A::Invalid(m) => ApiError::BadRequest(m),
        A::Forbidden(m) => ApiError::Forbidden(m),
        A::Store(s) => s.into(),
        A::Hashing(m) => ApiError::Internal(crate::Error::Config(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "theme=dark; rapport_session=abc123; other=x"
                .parse()
                .expect("header"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc123"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
