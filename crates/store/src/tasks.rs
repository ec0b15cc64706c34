//! Follow-up tasks on a conversation or a customer, and the reminders sent when they fall due.
//! A reminder is claimed and its notification written in one transaction, so on several nodes
//! each goes out once.

use chrono::{DateTime, Utc};
use rapport_core::ids::{ContactId, ConversationId, WorkspaceId};
use serde::Serialize;

use crate::db::on_db;
use crate::knowledge::placeholders;
use crate::{Error, Result, Store};

#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub conversation_id: Option<ConversationId>,
    pub contact_id: Option<ContactId>,
    pub title: String,
    pub note: String,
    pub assignee_id: Option<i64>,
    pub created_by: Option<i64>,
    /// `agent` or `rule`.
    pub source: String,
    pub due_at: Option<DateTime<Utc>>,
}

/// What an edit may change.
#[derive(Debug, Clone)]
pub struct TaskChange {
    pub title: String,
    pub note: String,
    pub assignee_id: Option<i64>,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Task {
    pub id: i64,
    pub conversation_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub title: String,
    pub note: String,
    pub assignee_id: Option<i64>,
    pub created_by: Option<i64>,
    pub source: String,
    pub due_at: Option<DateTime<Utc>>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<i64>,
    pub outcome: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The customer's name (or address), for lists.
    pub contact_name: Option<String>,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub assignee_id: Option<i64>,
    /// One customer: every contact of their cluster.
    pub contacts: Vec<ContactId>,
    pub conversation_id: Option<ConversationId>,
    /// Leave out done tasks.
    pub open_only: bool,
    pub limit: i64,
}

macro_rules! task_columns {
    () => {
        "id, conversation_id, contact_id, title, note, assignee_id, created_by, source, due_at, \
         reminded_at, done_at, done_by, outcome, created_at, updated_at, \
         (SELECT COALESCE(c.name, c.email, c.phone) FROM contacts c WHERE c.id = tasks.contact_id) AS contact_name"
    };
}

impl Store {
    pub async fn create_task(&self, ws: WorkspaceId, t: &NewTask) -> Result<Task> {
        let sql = concat!(
            "INSERT INTO tasks (workspace_id, conversation_id, contact_id, title, note, assignee_id, \
             created_by, source, due_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
            task_columns!()
        );
        Ok(on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(t.conversation_id.map(|c| c.0))
            .bind(t.contact_id.map(|c| c.0))
            .bind(&t.title)
            .bind(&t.note)
            .bind(t.assignee_id)
            .bind(t.created_by)
            .bind(&t.source)
            .bind(t.due_at)
            .bind(Utc::now())
            .fetch_one(p)
            .await?))
    }

    pub async fn task(&self, ws: WorkspaceId, id: i64) -> Result<Task> {
        let sql = concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE workspace_id = $1 AND id = $2"
        );
        let found: Option<Task> = on_db!(&self.db, |p| sqlx::query_as(sql)
            .bind(ws.0)
            .bind(id)
            .fetch_optional(p)
            .await?);
        found.ok_or(Error::NotFound { what: "task", id })
    }

    /// Tasks matching the filter: open ones first, soonest due first (undated last).
    pub async fn tasks(&self, ws: WorkspaceId, f: &TaskFilter) -> Result<Vec<Task>> {
        let contacts = if f.contacts.is_empty() {
            String::new()
        } else {
            format!(" AND contact_id IN ({})", placeholders(6, f.contacts.len()))
        };
        let sql = format!(
            "SELECT {} FROM tasks WHERE workspace_id = $1 AND ($2 IS NULL OR assignee_id = $2) \
             AND ($3 IS NULL OR conversation_id = $3) AND (NOT $4 OR done_at IS NULL){contacts} \
             ORDER BY CASE WHEN done_at IS NULL THEN 0 ELSE 1 END, \
                      CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at, id DESC LIMIT $5",
            task_columns!()
        );
        on_db!(&self.db, |p| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(ws.0)
                .bind(f.assignee_id)
                .bind(f.conversation_id.map(|c| c.0))
                .bind(f.open_only)
                .bind(f.limit);
            for c in &f.contacts {
                q = q.bind(c.0);
            }
            Ok(q.fetch_all(p).await?)
        })
    }

    /// Edits a task; a new due time arms its reminder again.
    pub async fn update_task(&self, ws: WorkspaceId, id: i64, c: &TaskChange) -> Result<Task> {
        let sql = "UPDATE tasks SET title = $1, note = $2, assignee_id = $3, \
                   reminded_at = CASE WHEN due_at IS NOT DISTINCT FROM $4 THEN reminded_at ELSE NULL END, \
                   due_at = $4, updated_at = $5 WHERE workspace_id = $6 AND id = $7";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(&c.title)
            .bind(&c.note)
            .bind(c.assignee_id)
            .bind(c.due_at)
            .bind(Utc::now())
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "task", id)?;
        self.task(ws, id).await
    }

    /// Marks a task done (with what came of it) or open again.
    pub async fn set_task_done(
        &self,
        ws: WorkspaceId,
        id: i64,
        done_by: Option<i64>,
        outcome: Option<&str>,
    ) -> Result<Task> {
        let now = Utc::now();
        let sql = "UPDATE tasks SET done_at = $1, done_by = $2, outcome = COALESCE($3, outcome), \
                   updated_at = $4 WHERE workspace_id = $5 AND id = $6";
        let done_at = done_by.map(|_| now);
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(done_at)
            .bind(done_by)
            .bind(outcome)
            .bind(now)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "task", id)?;
        self.task(ws, id).await
    }

    pub async fn delete_task(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let sql = "DELETE FROM tasks WHERE workspace_id = $1 AND id = $2";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "task", id)
    }

    /// Claims up to `limit` open tasks of every workspace that are due by `now` and not yet
    /// reminded, and notifies each one's assignee, in one transaction. Returns the tasks.
    pub async fn send_task_reminders(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Task>> {
        let claim = concat!(
            "UPDATE tasks SET reminded_at = $1 WHERE id IN (SELECT id FROM tasks \
             WHERE done_at IS NULL AND reminded_at IS NULL AND due_at <= $1 ORDER BY due_at LIMIT $2) \
             AND reminded_at IS NULL RETURNING workspace_id, ",
            task_columns!()
        );
        let notify = "INSERT INTO notifications (workspace_id, user_id, kind, title, body, \
                      conversation_id, task_id, created_at) VALUES ($1, $2, 'task_due', $3, $4, $5, $6, $7)";
        on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let rows: Vec<DueTask> = sqlx::query_as(claim)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            for row in &rows {
                let Some(user) = row.task.assignee_id else {
                    continue;
                };
                let body = match &row.task.contact_name {
                    Some(name) if row.task.note.is_empty() => name.clone(),
                    Some(name) => format!("{name}: {}", row.task.note),
                    None => row.task.note.clone(),
                };
                sqlx::query(notify)
                    .bind(row.workspace_id)
                    .bind(user)
                    .bind(format!("Task due: {}", row.task.title))
                    .bind(&body)
                    .bind(row.task.conversation_id)
                    .bind(row.task.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(rows.into_iter().map(|r| r.task).collect())
        })
    }
}

#[derive(sqlx::FromRow)]
struct DueTask {
    workspace_id: i64,
    #[sqlx(flatten)]
    task: Task,
}
