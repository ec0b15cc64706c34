//! Automatic assignment. Every few seconds each node runs one [`Desk::route_once`]:
//!
//! 1. **route** new escalations: the team whose topics name the hand-off topic or intent (else
//!    the `*` team, else the whole workspace), a priority, and SLA due times;
//! 2. **take back** conversations whose agent went offline longer than `reassign_after`;
//! 3. **assign** what waits in the queues: round-robin (who got work longest ago) among the
//!    team's online agents below its capacity; with nobody online it stays queued, and any
//!    agent can still claim it;
//! 4. **watch SLAs**: stop the first-response clock at the first agent reply, warn the
//!    assignee before a target is missed, mark and announce a breach.
//!
//! Each write is conditional in the store, so nodes running this at once never give one
//! escalation to two agents nor raise an alert twice.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rapport_core::hours::BusinessHours;
use rapport_core::ids::{ConversationId, WorkspaceId};
use rapport_store::notifications::NewNotification;
use rapport_store::routing::{Load, Routed, RoutingItem, SlaAlert, SlaPolicy, Team};
use rapport_store::tasks::NewTask;
use serde::Serialize;
use serde_json::json;

use crate::{Desk, Result, Status};

/// How many escalations one pass looks at, per stage.
const BATCH: i64 = 200;
/// Open conversations per agent when no team says otherwise.
pub const DEFAULT_CAPACITY: i64 = 5;
/// The warning comes when this share of the first-response time is left.
const WARN_SHARE: i32 = 5;

/// What routing reads of a workspace once per pass.
struct WorkspaceRouting {
    teams: Vec<Team>,
    policies: Vec<SlaPolicy>,
    hours: Option<BusinessHours>,
}

/// What one routing pass did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RoutingReport {
    pub routed: usize,
    pub assigned: usize,
    pub taken_back: usize,
    pub first_responses: u64,
    pub warned: usize,
    pub breached: usize,
}

impl Desk {
    /// One pass of routing over every workspace (see the module's doc).
    pub async fn route_once(&self, now: DateTime<Utc>) -> Result<RoutingReport> {
        let mut report = RoutingReport {
            routed: self.route_new(now).await?,
            taken_back: self.take_back_abandoned(now).await?,
            ..RoutingReport::default()
        };
        report.assigned = self.assign_queued(now).await?;
        report.first_responses = self.store.record_first_responses().await?;
        let (warned, breached) = self.store.claim_sla_alerts(now, BATCH).await?;
        report.warned = warned.len();
        report.breached = breached.len();
        for alert in &warned {
            self.announce_sla(alert, "sla_at_risk").await?;
        }
        for alert in &breached {
            self.announce_sla(alert, "sla_breached").await?;
        }
        Ok(report)
    }

    async fn route_new(&self, now: DateTime<Utc>) -> Result<usize> {
        let items = self.store.unrouted_escalations(BATCH).await?;
        let mut done = 0;
        let mut cache: HashMap<i64, WorkspaceRouting> = HashMap::new();
        for item in items {
            let ws = WorkspaceId(item.workspace_id);
            let routing = match cache.entry(item.workspace_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(WorkspaceRouting {
                    teams: self.store.teams(ws).await?,
                    policies: self.store.sla_policies(ws).await?,
                    hours: self.business_hours(ws).await?,
                }),
            };
            let (teams, policies, hours) = (&routing.teams, &routing.policies, &routing.hours);
            let labels = labels_of(&item);
            let team = team_for(teams, &labels);
            let priority = priority_of(&item.reason);
            let policy = policy_for(policies, &item.channel, priority);
            let routed = schedule(
                team.map(|t| t.id),
                priority,
                policy,
                hours.as_ref(),
                item.created_at,
            );
            if !self.store.mark_routed(ws, item.id, &routed).await? {
                continue;
            }
            done += 1;
            let why = match team {
                Some(t) => format!("routed to {} ({})", t.name, labels.join(", ")),
                None => "routed to the whole team".to_owned(),
            };
            let detail = json!({
                "why": why,
                "team_id": routed.team_id,
                "team": team.map(|t| t.name.clone()),
                "priority": routed.priority,
                "sla_policy": policy.map(|p| p.name.clone()),
                "first_response_due_at": routed.first_response_due_at,
                "resolution_due_at": routed.resolution_due_at,
                "at": now,
            });
            self.store
                .add_conversation_event(
                    ws,
                    rapport_core::ids::ConversationId(item.conversation_id),
                    Some(item.id),
                    "routed",
                    &detail,
                    None,
                )
                .await?;
        }
        Ok(done)
    }

    async fn take_back_abandoned(&self, now: DateTime<Utc>) -> Result<usize> {
        let after = self.settings.reassign_after;
        let seen_before = now - self.presence.offline_after - after;
        let abandoned = self
            .store
            .abandoned_escalations(seen_before, now - after, BATCH)
            .await?;
        let mut done = 0;
        for a in abandoned {
            let ws = WorkspaceId(a.workspace_id);
            let name = self
                .store
                .user(ws, a.assignee_id)
                .await
                .map(|u| u.name)
                .unwrap_or_else(|_| format!("user {}", a.assignee_id));
            let minutes = (now - a.last_seen_at).num_minutes().max(1);
            let detail = json!({
                "why": format!("{name} went offline ({minutes} min); back in the queue"),
                "from": a.assignee_id,
            });
            if self.store.unassign(ws, &a, &detail).await? {
                done += 1;
            }
        }
        Ok(done)
    }

    async fn assign_queued(&self, now: DateTime<Utc>) -> Result<usize> {
        let queued = self.store.queued_escalations(BATCH).await?;
        let mut by_workspace: HashMap<i64, Vec<RoutingItem>> = HashMap::new();
        for item in queued {
            by_workspace
                .entry(item.workspace_id)
                .or_default()
                .push(item);
        }
        let mut done = 0;
        for (ws, items) in by_workspace {
            done += self.assign_in(WorkspaceId(ws), items, now).await?;
        }
        Ok(done)
    }

    async fn assign_in(
        &self,
        ws: WorkspaceId,
        items: Vec<RoutingItem>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let team_presence = self.team_presence(ws).await?;
        let online: Vec<i64> = team_presence
            .iter()
            .filter(|p| p.status == Status::Online)
            .map(|p| p.user_id)
            .collect();
        if online.is_empty() {
            return Ok(0);
        }
        let teams = self.store.teams(ws).await?;
        let mut load: HashMap<i64, Load> = self
            .store
            .agent_load(ws)
            .await?
            .into_iter()
            .map(|l| (l.user_id, l))
            .collect();
        let mut done = 0;
        for item in items {
            let team = item
                .team_id
                .and_then(|id| teams.iter().find(|t| t.id == id));
            let (pool, capacity): (Vec<i64>, i64) = match team {
                Some(t) => (t.members.clone(), t.capacity),
                None => (online.clone(), DEFAULT_CAPACITY),
            };
            let Some(user) = next_agent(&pool, &online, &load, capacity) else {
                continue;
            };
            let open = load.get(&user).map_or(0, |l| l.open);
            let name = team_presence
                .iter()
                .find(|p| p.user_id == user)
                .map_or_else(String::new, |p| p.name.clone());
            let why = match team {
                Some(t) => format!(
                    "round-robin in {} to {name}: {} of {capacity} open",
                    t.name,
                    open + 1
                ),
                None => format!("round-robin to {name}: {} of {capacity} open", open + 1),
            };
            let detail =
                json!({ "why": why, "user_id": user, "team_id": item.team_id, "by": "routing" });
            if self
                .store
                .assign_if_unassigned(ws, &item, user, capacity, &detail)
                .await?
            {
                done += 1;
                if let Some(team) = team {
                    self.follow_up_rule(ws, team, &item, user, now).await?;
                }
                let entry = load.entry(user).or_insert(Load {
                    user_id: user,
                    open: 0,
                    last_assigned_at: None,
                });
                entry.open += 1;
                entry.last_assigned_at = Some(now);
            }
        }
        Ok(done)
    }

    /// The team's routing rule, if it has one: a follow-up task for the agent just given the
    /// escalation, shown on the conversation's timeline and in their tasks.
    async fn follow_up_rule(
        &self,
        ws: WorkspaceId,
        team: &Team,
        item: &RoutingItem,
        user: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(minutes) = team.follow_up_minutes else {
            return Ok(());
        };
        let task = NewTask {
            conversation_id: Some(ConversationId(item.conversation_id)),
            contact_id: None,
            title: format!("Follow up: {}", item.reason),
            note: format!("Created by the {} team's routing rule", team.name),
            assignee_id: Some(user),
            created_by: None,
            source: "rule".into(),
            due_at: Some(now + Duration::minutes(minutes)),
        };
        self.store.create_task(ws, &task).await?;
        Ok(())
    }

    /// Tells whoever has the escalation — or the team waiting on it — that its SLA is at risk
    /// or missed.
    async fn announce_sla(&self, alert: &SlaAlert, kind: &str) -> Result<()> {
        let ws = WorkspaceId(alert.workspace_id);
        let people: Vec<i64> = match (alert.assignee_id, alert.team_id) {
            (Some(user), _) => vec![user],
            (None, Some(team)) => self
                .store
                .team(ws, team)
                .await
                .map(|t| t.members)
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        let due = if alert.first_response_at.is_none() {
            alert.first_response_due_at
        } else {
            alert.resolution_due_at
        };
        let (title, body) = match kind {
            "sla_at_risk" => (
                "First response due soon".to_owned(),
                format!(
                    "{} — due {}",
                    alert.reason,
                    due.map_or_else(String::new, |d| d.format("%H:%M UTC").to_string())
                ),
            ),
            _ => ("SLA missed".to_owned(), alert.reason.clone()),
        };
        for user in people {
            self.store
                .notify(
                    ws,
                    &NewNotification {
                        user_id: user,
                        kind: kind.to_owned(),
                        title: title.clone(),
                        body: body.clone(),
                        conversation_id: Some(rapport_core::ids::ConversationId(
                            alert.conversation_id,
                        )),
                        task_id: None,
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// The workspace's business hours: saved in Settings, else configured.
    pub(crate) async fn business_hours(&self, ws: WorkspaceId) -> Result<Option<BusinessHours>> {
        let saved = self.store.workspace_settings(ws).await?;
        let hours = saved
            .settings
            .get("business_hours")
            .filter(|v| !v.is_null())
            .and_then(|v| serde_json::from_value::<BusinessHours>(v.clone()).ok());
        Ok(hours.or_else(|| self.settings.business_hours.clone()))
    }
}

/// What an escalation is about, as teams name it: its hand-off topic and its intent.
fn labels_of(item: &RoutingItem) -> Vec<String> {
    let mut labels = Vec::new();
    if let Some(topic) = item.reason.strip_prefix("topic handled by people: ") {
        labels.push(topic.trim().to_lowercase());
    }
    if let Some(intent) = item.context["trace"]["intent"]["name"].as_str() {
        labels.push(intent.to_lowercase());
    }
    labels
}

/// The first team (by name) whose topics name one of the labels; else the `*` team.
fn team_for<'a>(teams: &'a [Team], labels: &[String]) -> Option<&'a Team> {
    let names = |t: &Team, wanted: &str| {
        t.topics
            .iter()
            .any(|topic| topic.trim().eq_ignore_ascii_case(wanted))
    };
    teams
        .iter()
        .find(|t| labels.iter().any(|l| names(t, l)))
        .or_else(|| teams.iter().find(|t| names(t, "*")))
}

/// An upset customer or a suggestion that failed is seen first.
fn priority_of(reason: &str) -> &'static str {
    if reason.contains("frustrated") || reason.contains("did not solve") {
        "high"
    } else {
        "normal"
    }
}

/// The most specific policy for the channel and priority: both named beats one beats none;
/// among equals the oldest.
pub(crate) fn policy_for<'a>(
    policies: &'a [SlaPolicy],
    channel: &str,
    priority: &str,
) -> Option<&'a SlaPolicy> {
    policies
        .iter()
        .filter(|p| p.channel.as_deref().is_none_or(|c| c == channel))
        .filter(|p| p.priority.as_deref().is_none_or(|c| c == priority))
        .max_by_key(|p| {
            (
                p.channel.is_some() as u8 + p.priority.is_some() as u8,
                std::cmp::Reverse(p.id),
            )
        })
}

/// Due times from the policy, counted in business hours when it says so.
pub(crate) fn schedule(
    team_id: Option<i64>,
    priority: &str,
    policy: Option<&SlaPolicy>,
    hours: Option<&BusinessHours>,
    start: DateTime<Utc>,
) -> Routed {
    let due = |minutes: i64, p: &SlaPolicy| {
        let work = Duration::minutes(minutes.max(1));
        match hours.filter(|_| p.business_hours) {
            Some(h) => h.add_business_time(start, work),
            None => start + work,
        }
    };
    let first = policy.map(|p| due(p.first_response_minutes, p));
    let resolution = policy.map(|p| due(p.resolution_minutes, p));
    Routed {
        team_id,
        priority: priority.to_owned(),
        sla_policy_id: policy.map(|p| p.id),
        first_response_due_at: first,
        resolution_due_at: resolution,
        sla_warn_at: first.map(|f| f - (f - start) / WARN_SHARE),
    }
}

/// The pool's online agent below capacity who got work longest ago (never first).
fn next_agent(
    pool: &[i64],
    online: &[i64],
    load: &HashMap<i64, Load>,
    capacity: i64,
) -> Option<i64> {
    pool.iter()
        .copied()
        .filter(|u| online.contains(u))
        .filter(|u| load.get(u).map_or(0, |l| l.open) < capacity)
        .min_by_key(|u| (load.get(u).and_then(|l| l.last_assigned_at), *u))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(user: i64, open: i64, minutes_ago: Option<i64>) -> (i64, Load) {
        (
            user,
            Load {
                user_id: user,
                open,
                last_assigned_at: minutes_ago.map(|m| Utc::now() - Duration::minutes(m)),
            },
        )
    }

    #[test]
    fn round_robin_goes_to_whoever_got_work_longest_ago_below_capacity() {
        let load: HashMap<i64, Load> = [
            load(1, 1, Some(1)),
            load(2, 1, Some(5)),
            load(3, 5, Some(60)),
        ]
        .into();
        assert_eq!(next_agent(&[1, 2, 3], &[1, 2, 3], &load, 5), Some(2));
        assert_eq!(
            next_agent(&[1, 2, 3, 4], &[1, 2, 3, 4], &load, 5),
            Some(4),
            "never assigned comes first"
        );
        assert_eq!(
            next_agent(&[1, 3], &[3], &load, 5),
            None,
            "3 is full, 1 is offline"
        );
    }

    fn policy(id: i64, channel: Option<&str>, priority: Option<&str>) -> SlaPolicy {
        SlaPolicy {
            id,
            name: format!("p{id}"),
            channel: channel.map(str::to_owned),
            priority: priority.map(str::to_owned),
            first_response_minutes: 60,
            resolution_minutes: 480,
            business_hours: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn the_most_specific_policy_applies() {
        let policies = [
            policy(1, None, None),
            policy(2, Some("whatsapp"), None),
            policy(3, Some("whatsapp"), Some("high")),
        ];
        assert_eq!(
            policy_for(&policies, "whatsapp", "high").map(|p| p.id),
            Some(3)
        );
        assert_eq!(
            policy_for(&policies, "whatsapp", "normal").map(|p| p.id),
            Some(2)
        );
        assert_eq!(
            policy_for(&policies, "email", "high").map(|p| p.id),
            Some(1)
        );
    }
}
