use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use tokio::sync::Notify;

use crate::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Where the relational data lives.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `postgres://…` (or `sqlite://…`) from `DATABASE_URL`; `None` means the SQLite file below.
    pub database_url: Option<String>,
    /// The SQLite file used when no URL is given (created with its directory if missing).
    pub sqlite_path: PathBuf,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl StoreOptions {
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self {
            database_url: None,
            sqlite_path: path.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The connection pool of whichever backend is configured.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool (or transaction) is live; `$pool` is bound
/// to it. The expression is compiled once per backend, so it must type-check for both.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Handle to the relational store. Cheap to clone: it is a pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// Wakes this process's idle workers when it enqueues a job.
    pub(crate) job_notify: Arc<Notify>,
    /// Wakes this process's outbox sender when it writes an outbound message.
    pub(crate) outbox_notify: Arc<Notify>,
}

impl Store {
    /// Opens the pool. Does not migrate: call [`Store::migrate`].
    pub async fn connect(opts: &StoreOptions) -> Result<Store> {
        let url = opts
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty());
        let db = match url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                let options = PgConnectOptions::from_str(u)?;
                Db::Postgres(Self::pg_pool(opts).connect_with(options).await?)
            }
            Some(u) if u.starts_with("sqlite:") => {
                let options = SqliteConnectOptions::from_str(u)?;
                Db::Sqlite(Self::sqlite_pool(opts, options).await?)
            }
            Some(u) => return Err(Error::UnsupportedUrl { url: redact_url(u) }),
            None => {
                if let Some(dir) = opts
                    .sqlite_path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(dir).map_err(|source| Error::DataDir {
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
                let options = SqliteConnectOptions::new().filename(&opts.sqlite_path);
                Db::Sqlite(Self::sqlite_pool(opts, options).await?)
            }
        };
        Ok(Store::from_db(db))
    }

    /// Connects with explicit PostgreSQL options (tests use this to pin a schema).
    pub async fn connect_postgres(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Store> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Store::from_db(Db::Postgres(pool)))
    }

    fn from_db(db: Db) -> Store {
        Store {
            db,
            job_notify: Arc::new(Notify::new()),
            outbox_notify: Arc::new(Notify::new()),
        }
    }

    fn pg_pool(opts: &StoreOptions) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
    }

    async fn sqlite_pool(opts: &StoreOptions, options: SqliteConnectOptions) -> Result<SqlitePool> {
        // WAL lets readers proceed while one writer commits; the busy timeout makes concurrent
        // writers (workers claiming jobs, webhooks) wait for each other instead of failing.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // After a checkpoint the WAL file is cut back to 64 MiB: a burst of writes while
            // readers kept it from restarting does not leave a file that size for good.
            .pragma("journal_size_limit", "67108864");
        Ok(SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(options)
            .await?)
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies every pending migration of the backend. Safe to call on every start.
    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
            Db::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// Versions of the migrations applied so far, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(sql)
            .fetch_all(p)
            .await?))
    }

    /// Round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        let one: i32 = on_db!(&self.db, |p| sqlx::query_scalar("SELECT 1")
            .fetch_one(p)
            .await?);
        debug_assert_eq!(one, 1);
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        on_db!(&self.db, |p| p.close().await)
    }
}

/// A URL without its password, for error messages and `config show`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `%` and `_` in a search are the characters themselves, not wildcards.
pub(crate) fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::redact_url as redact;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/rapport"),
            "postgres://app:***@db:5432/rapport"
        );
        assert_eq!(
            redact("postgres://app@db/rapport"),
            "postgres://app@db/rapport"
        );
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
