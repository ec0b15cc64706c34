//! Who is calling: admins and agents signing in to the web app (argon2 passwords, session
//! cookies with a CSRF token), integrations calling the API (bearer tokens shown once, stored
//! hashed, revocable), and the throttle that makes guessing passwords slow. Every caller
//! belongs to one workspace, which scopes everything they read or change.

mod throttle;

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use rapport_core::domain::Role;
use rapport_core::ids::WorkspaceId;
use rapport_store::Store;
use rapport_store::users::{ApiToken, User};
use sha2::{Digest, Sha256};

pub use throttle::LoginThrottle;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; try again in {} seconds", .retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    #[error("password hashing: {0}")]
    Hashing(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// How a caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// A browser session; changes must echo this CSRF token.
    Session { csrf_token: String },
    /// An API token (no CSRF: it is not sent by browsers on their own).
    Token,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub workspace: WorkspaceId,
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub proof: Proof,
}

impl Caller {
    fn of(user: User, proof: Proof) -> Option<Caller> {
        Some(Caller {
            workspace: WorkspaceId(user.workspace_id),
            user_id: user.id,
            role: user.role.parse().ok()?,
            email: user.email,
            name: user.name,
            proof,
        })
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Admins only: settings, knowledge, users.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden("only an admin may do this".into()))
        }
    }
}

/// A new browser session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Goes in the HttpOnly cookie; only its hash is stored.
    pub session_token: String,
    pub csrf_token: String,
    pub caller: Caller,
    pub expires_in: Duration,
}

/// A new API token: the secret is shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuedToken {
    pub token: String,
    #[serde(flatten)]
    pub record: ApiToken,
}

/// Signs people in and recognises callers.
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    throttle: Arc<LoginThrottle>,
    session_ttl: Duration,
}

/// Prefix of API tokens, so a leaked one is recognisable (secret scanners, logs).
const TOKEN_PREFIX: &str = "rpt_";

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

/// SHA-256 of a token or session secret, as stored.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// An argon2id hash of `password` (in PHC string form).
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt[..]);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Hashing(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hashing(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn check_new_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Argon2 is slow on purpose: keep it off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Hashing(e.to_string()))
}

impl Authenticator {
    pub fn new(store: Store, session_ttl: Duration) -> Self {
        Authenticator {
            throttle: Arc::new(LoginThrottle::new(store.clone())),
            store,
            session_ttl,
        }
    }

    /// Checks an e-mail and password (throttled per e-mail and per client address) and opens
    /// a session.
    pub async fn sign_in(&self, email: &str, password: &str, client: &str) -> Result<SignedIn> {
        let email = email.trim().to_lowercase();
        if let Err(retry_after) = self.throttle.attempt(&email, client).await? {
            return Err(Error::Throttled { retry_after });
        }
        let candidates = self.store.credentials(&email).await?;
        let password = password.to_owned();
        // Verify against a dummy hash when nobody has this e-mail, so timing does not tell
        // which addresses have accounts.
        let user = blocking(move || {
            if candidates.is_empty() {
                let _ = verify_password(&password, &DUMMY_HASH);
                return None;
            }
            candidates.into_iter().find_map(|c| {
                c.password_hash
                    .as_deref()
                    .filter(|h| verify_password(&password, h))
                    .map(|_| c.user)
            })
        })
        .await?;
        let Some(user) = user else {
            return Err(Error::InvalidCredentials);
        };
        self.throttle.succeeded(&email).await?;
        let session_token = random_hex(32);
        let csrf_token = random_hex(16);
        let expires_at =
            Utc::now() + chrono::Duration::from_std(self.session_ttl).unwrap_or_default();
        self.store
            .create_session(&user, &digest(&session_token), &csrf_token, expires_at)
            .await?;
        let caller = Caller::of(
            user,
            Proof::Session {
                csrf_token: csrf_token.clone(),
            },
        )
        .ok_or_else(|| Error::Invalid("the user has an unknown role".into()))?;
        Ok(SignedIn {
            session_token,
            csrf_token,
            caller,
            expires_in: self.session_ttl,
        })
    }

    pub async fn sign_out(&self, session_token: &str) -> Result<()> {
        Ok(self.store.delete_session(&digest(session_token)).await?)
    }

    /// The caller of a session cookie, if the session is live.
    pub async fn session(&self, session_token: &str) -> Result<Option<Caller>> {
        let Some(s) = self.store.session(&digest(session_token)).await? else {
            return Ok(None);
        };
        Ok(Caller::of(
            s.user,
            Proof::Session {
                csrf_token: s.csrf_token,
            },
        ))
    }

    /// The caller of an API token, if it is live.
    pub async fn token(&self, token: &str) -> Result<Option<Caller>> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let user = self.store.user_by_token(&digest(token)).await?;
        Ok(user.and_then(|u| Caller::of(u, Proof::Token)))
    }

    /// A new token acting as `user`; the secret is in the answer and nowhere else.
    pub async fn issue_token(&self, ws: WorkspaceId, user: i64, name: &str) -> Result<IssuedToken> {
        if name.trim().is_empty() {
            return Err(Error::Invalid("a token needs a name".into()));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_hex(24));
        let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let record = self
            .store
            .create_api_token(ws, user, name, &digest(&token), &prefix)
            .await?;
        Ok(IssuedToken { token, record })
    }

    /// Adds a user with a password.
    pub async fn create_user(
        &self,
        ws: WorkspaceId,
        email: &str,
        name: &str,
        role: Role,
        password: &str,
    ) -> Result<User> {
        let email = email.trim();
        if !email.contains('@') || email.len() > 254 {
            return Err(Error::Invalid(format!(
                "{email:?} is not an e-mail address"
            )));
        }
        check_new_password(password)?;
        let password = password.to_owned();
        let hash = blocking(move || hash_password(&password)).await??;
        Ok(self
            .store
            .create_user(ws, email, name, role.as_str(), Some(&hash))
            .await?)
    }

    /// Changes the caller's own password after checking the current one; every session of
    /// theirs ends.
    pub async fn change_password(&self, caller: &Caller, current: &str, new: &str) -> Result<()> {
        check_new_password(new)?;
        let hash = self
            .store
            .password_hash(caller.workspace, caller.user_id)
            .await?
            .unwrap_or_default();
        let (current, new) = (current.to_owned(), new.to_owned());
        let new_hash = blocking(move || {
            if verify_password(&current, &hash) {
                hash_password(&new).map(Some)
            } else {
                Ok(None)
            }
        })
        .await??;
        let Some(new_hash) = new_hash else {
            return Err(Error::InvalidCredentials);
        };
        Ok(self
            .store
            .set_password(caller.workspace, caller.user_id, &new_hash)
            .await?)
    }

    /// Creates the first admin of a new install. With an e-mail and password from the
    /// configuration it uses them; otherwise it makes a one-time password and returns it, for
    /// the operator to read once. Nothing happens once any user exists.
    pub async fn ensure_first_admin(
        &self,
        email: Option<&str>,
        password: Option<&str>,
    ) -> Result<Option<FirstAdmin>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let email = email.unwrap_or("admin@localhost").to_owned();
        let (password, generated) = match password {
            Some(p) => (p.to_owned(), false),
            None => (random_hex(9), true),
        };
        let user = self
            .create_user(
                WorkspaceId::DEFAULT,
                &email,
                "Admin",
                Role::Admin,
                &password,
            )
            .await?;
        Ok(Some(FirstAdmin {
            email: user.email,
            one_time_password: generated.then_some(password),
        }))
    }
}

/// The admin created on first start.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub email: String,
    /// Set when Rapport made the password up: print it once.
    pub one_time_password: Option<String>,
}

/// A hash of a random string nobody knows, to spend the same time on unknown e-mails.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&random_hex(16)).unwrap_or_default());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_and_no_other() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert!(PasswordHash::new(&DUMMY_HASH).is_ok());
    }

    #[test]
    fn digests_are_stable_and_do_not_reveal_the_secret() {
        assert_eq!(digest("abc"), digest("abc"));
        assert_ne!(digest("abc"), digest("abd"));
        assert!(!digest("rpt_secret").contains("secret"));
    }
}
