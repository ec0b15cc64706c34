//! Throw-away databases for tests: a migrated SQLite file in a temporary directory, or a fresh
//! PostgreSQL database on the test server (`RAPPORT_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`).
//!
//! Outside CI a missing PostgreSQL skips the Postgres half with a loud notice; with `CI=true` it
//! is an error, so CI can never pass without having run it.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};
use tempfile::TempDir;

use crate::{Store, StoreOptions};

const DB_PREFIX: &str = "rapport_t_";
/// Databases left behind by crashed test runs are dropped once they are this old.
const STALE_AFTER_SECS: u64 = 6 * 3600;

pub fn postgres_admin_url() -> String {
    std::env::var("RAPPORT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A migrated, empty store that is removed when the test is done.
pub struct TestDb {
    pub store: Store,
    /// URL that reaches this very database (for a server under test).
    pub url: String,
    _dir: Option<TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir for the test database");
        let path = dir.path().join("rapport.db");
        let store = Store::connect(&StoreOptions::sqlite(&path))
            .await
            .expect("open SQLite");
        store.migrate().await.expect("migrate SQLite");
        TestDb {
            store,
            url: format!("sqlite://{}", path.display()),
            _dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a notice) when the server cannot be reached
    /// outside CI.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = postgres_admin_url();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) if !in_ci() => {
                eprintln!(
                    "\n!!! PostgreSQL at {admin_url} is unreachable ({e}): SKIPPING the PostgreSQL half \
                     of this test. Start it, or CI will fail. !!!\n"
                );
                return None;
            }
            Err(e) => panic!("CI=true and PostgreSQL at {admin_url} is unreachable: {e}"),
        };
        drop_stale_databases(&mut admin).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let name = format!("{DB_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let options = PgConnectOptions::from_str(&admin_url)
            .expect("valid admin URL")
            .database(&name);
        let store = Store::connect_postgres(options, 8)
            .await
            .expect("connect to test database");
        store.migrate().await.expect("migrate PostgreSQL");
        let url = replace_database(&admin_url, &name);
        Some(TestDb {
            store,
            url,
            _dir: None,
            pg_name: Some(name),
        })
    }

    /// Closes the pool and drops the PostgreSQL database (SQLite files go with the temp dir).
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(name) = &self.pg_name
            && let Ok(mut admin) = PgConnection::connect(&postgres_admin_url()).await
        {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

async fn drop_stale_databases(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{DB_PREFIX}%"))
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for name in names {
        let created = name[DB_PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|s| s.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > STALE_AFTER_SECS) {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await;
        }
    }
}

fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Declares each listed `async fn(Store)` as two tests, one per backend, in modules `sqlite` and
/// `postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::testing::TestDb::sqlite().await;
                    super::$name(db.store.clone()).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::testing::TestDb::postgres().await else { return };
                    super::$name(db.store.clone()).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

impl Store {
    /// Makes every chunk look as if it was indexed before token vectors were kept (migration
    /// 0010), as in a database upgraded from an earlier version.
    pub async fn forget_token_vectors(&self) -> crate::Result<u64> {
        let sql = "UPDATE chunks SET token_vectors = NULL";
        Ok(crate::db::on_db!(&self.db, |p| sqlx::query(sql)
            .execute(p)
            .await?
            .rows_affected()))
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            replace_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
