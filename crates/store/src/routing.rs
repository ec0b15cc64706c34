//! Teams, SLA policies and the rows automatic assignment works on. Every change routing makes
//! to an escalation is a conditional update (`… WHERE assignee_id IS NULL`), so two nodes
//! routing at once never give one escalation to two agents: the second update touches nothing.

use chrono::{DateTime, Utc};
use rapport_core::ids::{ConversationId, WorkspaceId};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::types::Json;

use crate::db::on_db;
use crate::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Team {
    pub id: i64,
    pub name: String,
    /// Hand-off topics and intents routed to this team; `*` takes whatever no other team does.
    #[sqlx(json)]
    pub topics: Vec<String>,
    /// Open conversations one member holds before routing passes them over.
    pub capacity: i64,
    /// A follow-up task for the agent routing gives an escalation to, due this many minutes
    /// after the assignment (none when `None`).
    pub follow_up_minutes: Option<i64>,
    #[sqlx(skip)]
    pub members: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct TeamText {
    pub name: String,
    pub topics: Vec<String>,
    pub capacity: i64,
    pub follow_up_minutes: Option<i64>,
    pub members: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SlaPolicy {
    pub id: i64,
    pub name: String,
    /// The channel it covers; `None`: every channel.
    pub channel: Option<String>,
    /// The priority it covers; `None`: every priority.
    pub priority: Option<String>,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    /// Count only business hours.
    pub business_hours: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct SlaText {
    pub name: String,
    pub channel: Option<String>,
    pub priority: Option<String>,
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
    pub business_hours: bool,
}

/// An escalation as routing sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoutingItem {
    pub workspace_id: i64,
    pub id: i64,
    pub conversation_id: i64,
    pub reason: String,
    #[sqlx(json)]
    pub context: Value,
    pub channel: String,
    pub team_id: Option<i64>,
    pub priority: String,
    pub created_at: DateTime<Utc>,
}

/// What routing decided when it first took an escalation.
#[derive(Debug, Clone)]
pub struct Routed {
    pub team_id: Option<i64>,
    pub priority: String,
    pub sla_policy_id: Option<i64>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// When to warn that the first response is about to be late.
    pub sla_warn_at: Option<DateTime<Utc>>,
}

/// How much work an agent holds and when they last got some.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Load {
    pub user_id: i64,
    pub open: i64,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

/// A claimed escalation whose agent has gone quiet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Abandoned {
    pub workspace_id: i64,
    pub id: i64,
    pub conversation_id: i64,
    pub assignee_id: i64,
    pub last_seen_at: DateTime<Utc>,
}

/// An escalation whose SLA needs a word: about to be late, or late.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlaAlert {
    pub workspace_id: i64,
    pub id: i64,
    pub conversation_id: i64,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub reason: String,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
}

const TEAM_COLUMNS: &str = "id, name, topics, capacity, follow_up_minutes, created_at, updated_at";
const SLA_COLUMNS: &str = "id, name, channel, priority, first_response_minutes, resolution_minutes, \
                           business_hours, created_at, updated_at";

impl Store {
    pub async fn teams(&self, ws: WorkspaceId) -> Result<Vec<Team>> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE workspace_id = $1 ORDER BY name");
        let mut teams: Vec<Team> = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .fetch_all(p)
        .await?);
        let members: Vec<(i64, i64)> = on_db!(&self.db, |p| sqlx::query_as(
            "SELECT m.team_id, m.user_id FROM team_members m JOIN teams t ON t.id = m.team_id \
             WHERE t.workspace_id = $1 ORDER BY m.user_id"
        )
        .bind(ws.0)
        .fetch_all(p)
        .await?);
        for team in &mut teams {
            team.members = members
                .iter()
                .filter(|(t, _)| *t == team.id)
                .map(|(_, u)| *u)
                .collect();
        }
        Ok(teams)
    }

    pub async fn team(&self, ws: WorkspaceId, id: i64) -> Result<Team> {
        self.teams(ws)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(Error::NotFound { what: "team", id })
    }

    pub async fn create_team(&self, ws: WorkspaceId, t: &TeamText) -> Result<Team> {
        let now = Utc::now();
        let insert = "INSERT INTO teams (workspace_id, name, topics, capacity, created_at, updated_at, follow_up_minutes) \
                      VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id";
        let id: i64 = on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(insert)
                .bind(ws.0)
                .bind(&t.name)
                .bind(Json(&t.topics))
                .bind(t.capacity)
                .bind(now)
                .bind(t.follow_up_minutes)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    Error::conflict_on_unique(e, format!("a team is already named {}", t.name))
                })?;
            for user in &t.members {
                sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                    .bind(id)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            id
        });
        self.team(ws, id).await
    }

    /// Replaces a team's name, topics, capacity and members.
    pub async fn update_team(&self, ws: WorkspaceId, id: i64, t: &TeamText) -> Result<Team> {
        let update = "UPDATE teams SET name = $1, topics = $2, capacity = $3, updated_at = $4, \
                      follow_up_minutes = $7 WHERE workspace_id = $5 AND id = $6";
        on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(update)
                .bind(&t.name)
                .bind(Json(&t.topics))
                .bind(t.capacity)
                .bind(Utc::now())
                .bind(ws.0)
                .bind(id)
                .bind(t.follow_up_minutes)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    Error::conflict_on_unique(e, format!("a team is already named {}", t.name))
                })?
                .rows_affected();
            Error::unless_touched(n, "team", id)?;
            sqlx::query("DELETE FROM team_members WHERE team_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for user in &t.members {
                sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                    .bind(id)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        self.team(ws, id).await
    }

    pub async fn delete_team(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let n = on_db!(&self.db, |p| sqlx::query(
            "DELETE FROM teams WHERE workspace_id = $1 AND id = $2"
        )
        .bind(ws.0)
        .bind(id)
        .execute(p)
        .await?
        .rows_affected());
        Error::unless_touched(n, "team", id)
    }

    pub async fn sla_policies(&self, ws: WorkspaceId) -> Result<Vec<SlaPolicy>> {
        let sql =
            format!("SELECT {SLA_COLUMNS} FROM sla_policies WHERE workspace_id = $1 ORDER BY id");
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .fetch_all(p)
        .await?))
    }

    pub async fn create_sla_policy(&self, ws: WorkspaceId, s: &SlaText) -> Result<SlaPolicy> {
        let sql = format!(
            "INSERT INTO sla_policies (workspace_id, name, channel, priority, first_response_minutes, \
             resolution_minutes, business_hours, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {SLA_COLUMNS}"
        );
        on_db!(&self.db, |p| Ok(sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(ws.0)
        .bind(&s.name)
        .bind(&s.channel)
        .bind(&s.priority)
        .bind(s.first_response_minutes)
        .bind(s.resolution_minutes)
        .bind(s.business_hours)
        .bind(Utc::now())
        .fetch_one(p)
        .await?))
    }

    pub async fn update_sla_policy(
        &self,
        ws: WorkspaceId,
        id: i64,
        s: &SlaText,
    ) -> Result<SlaPolicy> {
        let sql = format!(
            "UPDATE sla_policies SET name = $1, channel = $2, priority = $3, first_response_minutes = $4, \
             resolution_minutes = $5, business_hours = $6, updated_at = $7 \
             WHERE workspace_id = $8 AND id = $9 RETURNING {SLA_COLUMNS}"
        );
        let found: Option<SlaPolicy> = on_db!(&self.db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(&s.name)
        .bind(&s.channel)
        .bind(&s.priority)
        .bind(s.first_response_minutes)
        .bind(s.resolution_minutes)
        .bind(s.business_hours)
        .bind(Utc::now())
        .bind(ws.0)
        .bind(id)
        .fetch_optional(p)
        .await?);
        found.ok_or(Error::NotFound {
            what: "SLA policy",
            id,
        })
    }

    pub async fn delete_sla_policy(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        let n = on_db!(&self.db, |p| sqlx::query(
            "DELETE FROM sla_policies WHERE workspace_id = $1 AND id = $2"
        )
        .bind(ws.0)
        .bind(id)
        .execute(p)
        .await?
        .rows_affected());
        Error::unless_touched(n, "SLA policy", id)
    }

    /// Open escalations of every workspace routing has not looked at yet, oldest first.
    /// Playground hand-offs are tests, not work, and are never routed.
    pub async fn unrouted_escalations(&self, limit: i64) -> Result<Vec<RoutingItem>> {
        let sql = "SELECT e.workspace_id, e.id, e.conversation_id, e.reason, e.context, c.channel, \
                   e.team_id, e.priority, e.created_at FROM escalations e \
                   JOIN conversations c ON c.id = e.conversation_id \
                   WHERE e.status = 'open' AND e.routed_at IS NULL AND NOT c.test \
                   ORDER BY e.id LIMIT $1";
        on_db!(&self.db, |p| Ok(sqlx::query_as(sql)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    /// Records routing's decision, once: `false` when another node did first.
    pub async fn mark_routed(&self, ws: WorkspaceId, id: i64, r: &Routed) -> Result<bool> {
        let sql = "UPDATE escalations SET routed_at = $1, team_id = $2, priority = $3, sla_policy_id = $4, \
                   first_response_due_at = $5, resolution_due_at = $6, sla_warn_at = $7 \
                   WHERE workspace_id = $8 AND id = $9 AND routed_at IS NULL";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(Utc::now())
            .bind(r.team_id)
            .bind(&r.priority)
            .bind(r.sla_policy_id)
            .bind(r.first_response_due_at)
            .bind(r.resolution_due_at)
            .bind(r.sla_warn_at)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// Sets the due times again (the priority changed).
    pub async fn reschedule_sla(&self, ws: WorkspaceId, id: i64, r: &Routed) -> Result<()> {
        let sql = "UPDATE escalations SET priority = $1, sla_policy_id = $2, first_response_due_at = $3, \
                   resolution_due_at = $4, sla_warn_at = $5, sla_warned_at = NULL \
                   WHERE workspace_id = $6 AND id = $7";
        let n = on_db!(&self.db, |p| sqlx::query(sql)
            .bind(&r.priority)
            .bind(r.sla_policy_id)
            .bind(r.first_response_due_at)
            .bind(r.resolution_due_at)
            .bind(r.sla_warn_at)
            .bind(ws.0)
            .bind(id)
            .execute(p)
            .await?
            .rows_affected());
        Error::unless_touched(n, "escalation", id)
    }

    /// Routed escalations waiting for an agent (the queues), soonest due first.
    pub async fn queued_escalations(&self, limit: i64) -> Result<Vec<RoutingItem>> {
        let sql = "SELECT e.workspace_id, e.id, e.conversation_id, e.reason, e.context, c.channel, \
                   e.team_id, e.priority, e.created_at FROM escalations e \
                   JOIN conversations c ON c.id = e.conversation_id \
                   WHERE e.status = 'open' AND e.routed_at IS NOT NULL AND e.assignee_id IS NULL \
                   ORDER BY e.first_response_due_at IS NULL, e.first_response_due_at, e.id LIMIT $1";
        on_db!(&self.db, |p| Ok(sqlx::query_as(sql)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    /// Open conversations per agent of the workspace and when each last got one.
    pub async fn agent_load(&self, ws: WorkspaceId) -> Result<Vec<Load>> {
        let sql = "SELECT assignee_id AS user_id, \
                   SUM(CASE WHEN status = 'claimed' THEN 1 ELSE 0 END) AS open, \
                   MAX(claimed_at) AS last_assigned_at \
                   FROM escalations WHERE workspace_id = $1 AND assignee_id IS NOT NULL GROUP BY assignee_id";
        on_db!(&self.db, |p| Ok(sqlx::query_as(sql)
            .bind(ws.0)
            .fetch_all(p)
            .await?))
    }

    /// Gives a queued escalation to `user` unless someone has it already or they already hold
    /// `capacity` open ones; the conversation becomes theirs and the assignment an event on
    /// its timeline, in one transaction. `false` when it was taken first (by another node, or
    /// by an agent) or the agent is full. Assignments to one agent are serialised (SQLite's
    /// write lock; on PostgreSQL a lock on the agent's row), so nodes routing at once cannot
    /// both fill the last place.
    pub async fn assign_if_unassigned(
        &self,
        ws: WorkspaceId,
        item: &RoutingItem,
        user: i64,
        capacity: i64,
        detail: &Value,
    ) -> Result<bool> {
        let now = Utc::now();
        let esc = "UPDATE escalations SET status = 'claimed', assignee_id = $1, claimed_at = $2 \
                   WHERE workspace_id = $3 AND id = $4 AND status = 'open' AND assignee_id IS NULL \
                   AND (SELECT COUNT(*) FROM escalations held WHERE held.workspace_id = $3 \
                        AND held.assignee_id = $1 AND held.status = 'claimed') < $5";
        // SQLite: the UPDATE runs under the write lock, its count included; a read first
        // would only risk a failed lock upgrade.
        let lock_agent = match self.db {
            crate::db::Db::Postgres(_) => Some("SELECT id FROM users WHERE id = $1 FOR UPDATE"),
            crate::db::Db::Sqlite(_) => None,
        };
        let conv = "UPDATE conversations SET status = 'human', assignee_id = $1, updated_at = $2 \
                    WHERE workspace_id = $3 AND id = $4";
        on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            if let Some(lock) = lock_agent {
                sqlx::query(lock)
                    .bind(user)
                    .fetch_optional(&mut *tx)
                    .await?;
            }
            let n = sqlx::query(esc)
                .bind(user)
                .bind(now)
                .bind(ws.0)
                .bind(item.id)
                .bind(capacity)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(conv)
                .bind(user)
                .bind(now)
                .bind(ws.0)
                .bind(item.conversation_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_EVENT)
                .bind(ws.0)
                .bind(item.conversation_id)
                .bind(item.id)
                .bind("assigned")
                .bind(Json(detail))
                .bind(None::<i64>)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_NOTIFICATION)
                .bind(ws.0)
                .bind(user)
                .bind("assigned")
                .bind(format!("Assigned to you: {}", item.reason))
                .bind(detail["why"].as_str().unwrap_or_default())
                .bind(item.conversation_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Claimed escalations whose agent chose `offline` before `chosen_before`, or has not been
    /// seen since `seen_before` (agents who never used the app, integrations, are left alone).
    pub async fn abandoned_escalations(
        &self,
        seen_before: DateTime<Utc>,
        chosen_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Abandoned>> {
        let sql = "SELECT e.workspace_id, e.id, e.conversation_id, e.assignee_id, p.last_seen_at \
                   FROM escalations e JOIN agent_presence p ON p.user_id = e.assignee_id \
                   WHERE e.status = 'claimed' AND (p.last_seen_at < $1 OR (p.chosen = 'offline' AND p.changed_at < $2)) \
                   ORDER BY e.id LIMIT $3";
        on_db!(&self.db, |p| Ok(sqlx::query_as(sql)
            .bind(seen_before)
            .bind(chosen_before)
            .bind(limit)
            .fetch_all(p)
            .await?))
    }

    /// Puts an abandoned escalation back in its queue, unless its agent changed meanwhile.
    pub async fn unassign(&self, ws: WorkspaceId, a: &Abandoned, detail: &Value) -> Result<bool> {
        let now = Utc::now();
        let esc = "UPDATE escalations SET status = 'open', assignee_id = NULL, claimed_at = NULL \
                   WHERE workspace_id = $1 AND id = $2 AND status = 'claimed' AND assignee_id = $3";
        let conv = "UPDATE conversations SET status = 'waiting_human', assignee_id = NULL, updated_at = $1 \
                    WHERE workspace_id = $2 AND id = $3 AND assignee_id = $4";
        on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(esc)
                .bind(ws.0)
                .bind(a.id)
                .bind(a.assignee_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(conv)
                .bind(now)
                .bind(ws.0)
                .bind(a.conversation_id)
                .bind(a.assignee_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_EVENT)
                .bind(ws.0)
                .bind(a.conversation_id)
                .bind(a.id)
                .bind("unassigned")
                .bind(Json(detail))
                .bind(None::<i64>)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Notes the first reply an agent sent after each escalation (the first-response clock
    /// stops); a reply after its due time marks the SLA breached then.
    pub async fn record_first_responses(&self) -> Result<u64> {
        let first = "(SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = escalations.conversation_id \
                     AND m.author = 'agent' AND NOT m.internal_note AND m.created_at >= escalations.created_at)";
        let sql = format!(
            "UPDATE escalations SET first_response_at = {first}, \
             sla_breached_at = CASE WHEN sla_breached_at IS NULL AND first_response_due_at < {first} \
               THEN {first} ELSE sla_breached_at END \
             WHERE first_response_at IS NULL AND routed_at IS NOT NULL AND status <> 'resolved' AND EXISTS {first_exists}",
            first_exists = "(SELECT 1 FROM messages m WHERE m.conversation_id = escalations.conversation_id \
                     AND m.author = 'agent' AND NOT m.internal_note AND m.created_at >= escalations.created_at)"
        );
        Ok(on_db!(&self.db, |p| sqlx::query(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .execute(p)
        .await?
        .rows_affected()))
    }

    /// Claims the escalations whose first response falls due soon (warn) or whose targets are
    /// missed (breach), marking each once, and writes the events — in one transaction, so each
    /// alert is raised once across nodes. Notifying people is the caller's.
    pub async fn claim_sla_alerts(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<(Vec<SlaAlert>, Vec<SlaAlert>)> {
        let columns = "workspace_id, id, conversation_id, assignee_id, team_id, reason, \
                       first_response_due_at, resolution_due_at, first_response_at";
        let warn = format!(
            "UPDATE escalations SET sla_warned_at = $1 WHERE id IN (SELECT id FROM escalations \
             WHERE sla_warned_at IS NULL AND sla_breached_at IS NULL AND first_response_at IS NULL \
             AND status <> 'resolved' AND sla_warn_at <= $1 AND first_response_due_at > $1 LIMIT $2) \
             AND sla_warned_at IS NULL RETURNING {columns}"
        );
        let breach = format!(
            "UPDATE escalations SET sla_breached_at = $1 WHERE id IN (SELECT id FROM escalations \
             WHERE sla_breached_at IS NULL AND status <> 'resolved' AND \
             ((first_response_at IS NULL AND first_response_due_at <= $1) OR resolution_due_at <= $1) LIMIT $2) \
             AND sla_breached_at IS NULL RETURNING {columns}"
        );
        on_db!(&self.db, |p| {
            let mut tx = p.begin().await?;
            let warned: Vec<SlaAlert> = sqlx::query_as(sqlx::AssertSqlSafe(warn.clone()))
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let breached: Vec<SlaAlert> = sqlx::query_as(sqlx::AssertSqlSafe(breach.clone()))
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            for (kind, alert) in warned
                .iter()
                .map(|a| ("sla_at_risk", a))
                .chain(breached.iter().map(|a| ("sla_breached", a)))
            {
                let detail = json!({
                    "first_response_due_at": alert.first_response_due_at,
                    "resolution_due_at": alert.resolution_due_at,
                });
                sqlx::query(INSERT_EVENT)
                    .bind(alert.workspace_id)
                    .bind(alert.conversation_id)
                    .bind(alert.id)
                    .bind(kind)
                    .bind(Json(&detail))
                    .bind(None::<i64>)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok((warned, breached))
        })
    }

    /// Escalations that missed an SLA target, every workspace (for `/metrics`).
    pub async fn sla_breach_count(&self) -> Result<i64> {
        Ok(on_db!(&self.db, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM escalations WHERE sla_breached_at IS NOT NULL"
        )
        .fetch_one(p)
        .await?))
    }

    /// Records something that happened to a conversation (a manual assignment, a claim).
    pub async fn add_conversation_event(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        escalation: Option<i64>,
        kind: &str,
        detail: &Value,
        actor: Option<i64>,
    ) -> Result<()> {
        on_db!(&self.db, |p| sqlx::query(INSERT_EVENT)
            .bind(ws.0)
            .bind(conversation.0)
            .bind(escalation)
            .bind(kind)
            .bind(Json(detail))
            .bind(actor)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// A conversation's events, oldest first.
    pub async fn conversation_events(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
    ) -> Result<Vec<ConversationEvent>> {
        let sql = "SELECT id, escalation_id, kind, detail, actor_id, created_at FROM conversation_events \
                   WHERE conversation_id = $1 AND +workspace_id = $2 ORDER BY id";
        on_db!(&self.db, |p| Ok(sqlx::query_as(sql)
            .bind(conversation.0)
            .bind(ws.0)
            .fetch_all(p)
            .await?))
    }
}

/// Something that happened to a conversation besides its messages.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ConversationEvent {
    pub id: i64,
    pub escalation_id: Option<i64>,
    /// `assigned`, `unassigned`, `claimed`, `sla_at_risk`, `sla_breached`.
    pub kind: String,
    #[sqlx(json)]
    pub detail: Value,
    pub actor_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

const INSERT_EVENT: &str = "INSERT INTO conversation_events (workspace_id, conversation_id, escalation_id, \
                            kind, detail, actor_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

const INSERT_NOTIFICATION: &str = "INSERT INTO notifications (workspace_id, user_id, kind, title, body, \
                                   conversation_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
