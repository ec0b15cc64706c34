use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database URL {url:?}: only sqlite: and postgres: URLs are supported")]
    UnsupportedUrl { url: String },
    #[error("could not create data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: i64 },
    /// The request contradicts the current state (merging a customer into itself…).
    #[error("{0}")]
    Conflict(String),
    #[error("stored value is not valid: {0}")]
    Corrupt(String),
}

impl From<rapport_core::Error> for Error {
    fn from(e: rapport_core::Error) -> Self {
        Error::Corrupt(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `Ok` when a write touched `rows` rows, else `NotFound` for the `what` it was aimed at.
    pub(crate) fn unless_touched(rows: u64, what: &'static str, id: i64) -> Result<()> {
        if rows == 0 {
            return Err(Error::NotFound { what, id });
        }
        Ok(())
    }

    /// The database cannot be reached right now (restarting, connections exhausted, SQLite
    /// busy past its timeout): the request may succeed if tried again shortly, and a provider
    /// told so retries it.
    pub fn is_unavailable(&self) -> bool {
        let Error::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => {
                let code = d.code().unwrap_or_default();
                // PostgreSQL: connection exceptions (08…), shutting down or starting up (57P…),
                // too many connections (53300). SQLite: busy (5) or locked (6).
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "53300"
                    || code == "5"
                    || code == "6"
            }
            _ => false,
        }
    }

    /// `Conflict(message)` when `e` broke a unique index, else the database error.
    pub(crate) fn conflict_on_unique(e: sqlx::Error, message: String) -> Error {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => Error::Conflict(message),
            _ => Error::Database(e),
        }
    }
}
