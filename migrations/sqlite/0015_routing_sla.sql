-- Teams, automatic assignment and SLAs (issue 18). Twin of migrations/postgres/0015_routing_sla.sql.

-- A group of agents that takes some kinds of escalation (billing → Billing). `topics` is a JSON
-- array of hand-off topics and intents routed to it; `capacity` is how many open
-- conversations one member holds before routing passes them over.
CREATE TABLE teams (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    topics       TEXT NOT NULL DEFAULT '[]',
    capacity     INTEGER NOT NULL DEFAULT 5,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX teams_name ON teams (workspace_id, name);

-- Who is in a team. Round-robin goes to the member who got work longest ago.
CREATE TABLE team_members (
    team_id          INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- Targets by channel and priority (NULL: any); the most specific policy applies.
CREATE TABLE sla_policies (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id           INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name                   TEXT NOT NULL,
    channel                TEXT,
    priority               TEXT,
    first_response_minutes INTEGER NOT NULL,
    resolution_minutes     INTEGER NOT NULL,
    -- Count only the workspace's business hours (when it has them).
    business_hours         INTEGER NOT NULL DEFAULT 1,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE INDEX sla_policies_workspace ON sla_policies (workspace_id);

-- Routing's and the SLA's state on each escalation. `routed_at`: when routing first took it
-- (team chosen, due times set); NULL means routing has not seen it yet.
ALTER TABLE escalations ADD COLUMN team_id INTEGER REFERENCES teams (id) ON DELETE SET NULL;
ALTER TABLE escalations ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE escalations ADD COLUMN routed_at TEXT;
ALTER TABLE escalations ADD COLUMN sla_policy_id INTEGER REFERENCES sla_policies (id) ON DELETE SET NULL;
ALTER TABLE escalations ADD COLUMN first_response_due_at TEXT;
ALTER TABLE escalations ADD COLUMN resolution_due_at TEXT;
ALTER TABLE escalations ADD COLUMN first_response_at TEXT;
-- When to warn that the first response is about to be late, and when that was done.
ALTER TABLE escalations ADD COLUMN sla_warn_at TEXT;
ALTER TABLE escalations ADD COLUMN sla_warned_at TEXT;
ALTER TABLE escalations ADD COLUMN sla_breached_at TEXT;
-- Routing's working set: escalations not yet routed, and open ones waiting in a queue.
CREATE INDEX escalations_routing ON escalations (status, routed_at);

-- What happened to a conversation besides messages: assigned (and why), queued, re-assigned,
-- SLA at risk or breached. Shown on the timeline.
CREATE TABLE conversation_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    escalation_id   INTEGER REFERENCES escalations (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '{}',
    actor_id        INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX conversation_events_conversation ON conversation_events (conversation_id, id);
