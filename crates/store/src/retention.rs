//! What the store forgets with time, so a busy install does not grow without bound: finished
//! jobs (their rows are only a log once done), and the full decision traces of old bot replies
//! (kilobytes each), which are cut down to what analytics reads — the decision, its reason and
//! the customer's original question. Each pass deletes or rewrites a bounded batch, so it never
//! holds the database for long; run it again until it reports nothing.

use chrono::{DateTime, Utc};

use crate::db::{Db, on_db};
use crate::{Result, Store};

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    pub jobs: u64,
    pub traces: u64,
}

/// Rows one statement touches at most.
const BATCH: i64 = 5_000;

impl Store {
    /// Deletes jobs done before `done_before` and jobs dead before `dead_before`, and slims the
    /// traces of bot replies written before `traces_before`.
    pub async fn forget_old(
        &self,
        done_before: DateTime<Utc>,
        dead_before: DateTime<Utc>,
        traces_before: DateTime<Utc>,
    ) -> Result<Forgotten> {
        let jobs = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE \
                    (state = 'done' AND finished_at < $1) OR (state = 'dead' AND finished_at < $2) LIMIT $3)";
        let jobs: u64 = on_db!(&self.db, |p| sqlx::query(jobs)
            .bind(done_before)
            .bind(dead_before)
            .bind(BATCH)
            .execute(p)
            .await?
            .rows_affected());
        // The slim trace keeps the fields analytics reads (see analytics.rs) and says it is slim.
        let traces = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query(
                    "UPDATE messages SET metadata = json_set(metadata, '$.trace', json_object(\
                       'decision', json_extract(metadata, '$.trace.decision'), \
                       'reason', json_extract(metadata, '$.trace.reason'), \
                       'query', json_object('original', json_extract(metadata, '$.trace.query.original')), \
                       'slim', json('true'))) \
                     WHERE id IN (SELECT id FROM messages WHERE author = 'bot' AND created_at < $1 \
                       AND json_extract(metadata, '$.trace') IS NOT NULL \
                       AND json_extract(metadata, '$.trace.slim') IS NULL LIMIT $2)",
                )
                .bind(traces_before)
                .bind(BATCH)
                .execute(p)
                .await?
                .rows_affected()
            }
            Db::Postgres(p) => {
                sqlx::query(
                    "UPDATE messages SET metadata = jsonb_set(metadata, '{trace}', jsonb_build_object(\
                       'decision', metadata->'trace'->'decision', \
                       'reason', metadata->'trace'->'reason', \
                       'query', jsonb_build_object('original', metadata->'trace'->'query'->'original'), \
                       'slim', true)) \
                     WHERE id IN (SELECT id FROM messages WHERE author = 'bot' AND created_at < $1 \
                       AND metadata ? 'trace' AND NOT (metadata->'trace' ? 'slim') LIMIT $2)",
                )
                .bind(traces_before)
                .bind(BATCH)
                .execute(p)
                .await?
                .rows_affected()
            }
        };
        Ok(Forgotten { jobs, traces })
    }
}
