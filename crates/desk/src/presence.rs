//! Who is at their desk. The app beats every ~30 s while open and says whether the agent did
//! anything since the last beat; the status others see is what the agent chose, lowered to
//! `away` after a long idle spell and to `offline` once the beats stop (a closed tab, a
//! dropped laptop). Routing and the team list read the same effective status.

use chrono::{DateTime, Duration, Utc};
use rapport_core::ids::WorkspaceId;
use rapport_store::presence::PresenceRow;
use serde::{Deserialize, Serialize};

use crate::{AgentRef, Desk, Error, Result};

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Away,
    Offline,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Away => "away",
            Status::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "online" => Some(Status::Online),
            "away" => Some(Status::Away),
            "offline" => Some(Status::Offline),
            _ => None,
        }
    }
}

/// When silence means someone left.
#[derive(Debug, Clone, Copy)]
pub struct PresencePolicy {
    /// No heartbeat for this long: offline.
    pub offline_after: Duration,
    /// Heartbeats but no activity for this long: away.
    pub away_after: Duration,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        PresencePolicy {
            offline_after: Duration::seconds(90),
            away_after: Duration::minutes(10),
        }
    }
}

impl PresencePolicy {
    /// The status others see, from what was chosen and when the agent was last seen.
    pub fn effective(&self, row: &PresenceRow, now: DateTime<Utc>) -> Status {
        let chosen = Status::parse(&row.chosen).unwrap_or(Status::Online);
        if chosen == Status::Offline || now - row.last_seen_at > self.offline_after {
            return Status::Offline;
        }
        if chosen == Status::Away || now - row.last_active_at > self.away_after {
            return Status::Away;
        }
        Status::Online
    }
}

/// One agent's presence as the team list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Presence {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub status: Status,
    /// What the agent chose (`online` while idle reads as `away`).
    pub chosen: Status,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
}

/// A heartbeat from the app.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Heartbeat {
    /// A status the agent picked now; absent keeps the one chosen before.
    #[serde(default)]
    pub status: Option<String>,
    /// The agent typed, clicked or read something since the last beat.
    #[serde(default)]
    pub active: bool,
}

impl Desk {
    pub fn presence_policy(&self) -> PresencePolicy {
        self.presence
    }

    /// Records a heartbeat and returns the agent's presence as others now see it.
    pub async fn beat(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        beat: Heartbeat,
    ) -> Result<Presence> {
        let chosen = match beat.status.as_deref() {
            None => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                Error::Invalid(vec![format!(
                    "status `{s}` is not one of online, away, offline"
                )])
            })?),
        };
        let now = Utc::now();
        let active = beat.active || chosen == Some(Status::Online);
        let row = self
            .store
            .beat(ws, agent.user_id, chosen.map(Status::as_str), active, now)
            .await?;
        Ok(Presence {
            user_id: agent.user_id,
            name: agent.name.clone(),
            email: agent.email.clone(),
            status: self.presence.effective(&row, now),
            chosen: Status::parse(&row.chosen).unwrap_or(Status::Online),
            last_seen_at: Some(row.last_seen_at),
            last_active_at: Some(row.last_active_at),
        })
    }

    /// Every active user of the workspace with their effective status; one never seen is
    /// offline.
    pub async fn team_presence(&self, ws: WorkspaceId) -> Result<Vec<Presence>> {
        let now = Utc::now();
        let rows = self.store.presence(ws).await?;
        let users = self.store.users(ws).await?;
        Ok(users
            .into_iter()
            .filter(|u| u.disabled_at.is_none())
            .map(|u| {
                let row = rows.iter().find(|r| r.user_id == u.id);
                Presence {
                    user_id: u.id,
                    name: u.name,
                    email: u.email,
                    status: row.map_or(Status::Offline, |r| self.presence.effective(r, now)),
                    chosen: row
                        .and_then(|r| Status::parse(&r.chosen))
                        .unwrap_or(Status::Offline),
                    last_seen_at: row.map(|r| r.last_seen_at),
                    last_active_at: row.map(|r| r.last_active_at),
                }
            })
            .collect())
    }

    /// How many agents are online, away and offline across every workspace (for `/metrics`).
    pub async fn status_counts(&self) -> Result<[(Status, i64); 3]> {
        let now = Utc::now();
        let (rows, users) = self.store.all_presence().await?;
        let count = |s: Status| {
            rows.iter()
                .filter(|r| self.presence.effective(r, now) == s)
                .count() as i64
        };
        let (online, away) = (count(Status::Online), count(Status::Away));
        Ok([
            (Status::Online, online),
            (Status::Away, away),
            (Status::Offline, (users - online - away).max(0)),
        ])
    }

    /// The ids of agents others see online: whom routing may give new work.
    pub async fn online_agents(&self, ws: WorkspaceId) -> Result<Vec<i64>> {
        Ok(self
            .team_presence(ws)
            .await?
            .into_iter()
            .filter(|p| p.status == Status::Online)
            .map(|p| p.user_id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(chosen: &str, seen_ago: i64, active_ago: i64, now: DateTime<Utc>) -> PresenceRow {
        PresenceRow {
            user_id: 1,
            chosen: chosen.into(),
            last_seen_at: now - Duration::seconds(seen_ago),
            last_active_at: now - Duration::seconds(active_ago),
            changed_at: now,
        }
    }

    #[test]
    fn idle_agent_reads_away_and_silent_one_offline() {
        let policy = PresencePolicy::default();
        let now = Utc::now();
        assert_eq!(
            policy.effective(&row("online", 5, 5, now), now),
            Status::Online
        );
        assert_eq!(
            policy.effective(&row("online", 5, 3600, now), now),
            Status::Away
        );
        assert_eq!(
            policy.effective(&row("online", 600, 600, now), now),
            Status::Offline
        );
        assert_eq!(policy.effective(&row("away", 5, 5, now), now), Status::Away);
        assert_eq!(
            policy.effective(&row("offline", 5, 5, now), now),
            Status::Offline
        );
    }
}
