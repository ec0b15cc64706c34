-- The agents' workspace (issue 18): canned replies, follow-up tasks, notifications and presence.
-- Twin of migrations/postgres/0014_agents_workspace.sql.

-- Replies an agent inserts with `/shortcut`: shared (owner_id NULL, admins edit them) or one
-- agent's own. The body is a template over the contact, the agent and the customer's facts.
CREATE TABLE canned_replies (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    owner_id     INTEGER REFERENCES users (id) ON DELETE CASCADE,
    shortcut     TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    uses         INTEGER NOT NULL DEFAULT 0,
    last_used_at TEXT,
    created_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
-- A shortcut names one shared reply and one personal reply per agent at most.
CREATE UNIQUE INDEX canned_replies_shortcut ON canned_replies (workspace_id, COALESCE(owner_id, 0), shortcut);

-- Follow-up work on a conversation or a customer ("call back tomorrow 10:00").
CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    conversation_id INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
    contact_id      INTEGER REFERENCES contacts (id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    note            TEXT NOT NULL DEFAULT '',
    assignee_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- `agent` (made by a person) or `rule` (made by a routing rule).
    source          TEXT NOT NULL DEFAULT 'agent',
    due_at          TEXT,
    reminded_at     TEXT,
    done_at         TEXT,
    done_by         INTEGER REFERENCES users (id) ON DELETE SET NULL,
    outcome         TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX tasks_assignee ON tasks (workspace_id, assignee_id, done_at, due_at);
CREATE INDEX tasks_contact ON tasks (contact_id);
CREATE INDEX tasks_conversation ON tasks (conversation_id);
-- The reminder scheduler's working set: open tasks whose reminder has not gone out.
CREATE INDEX tasks_reminder_due ON tasks (due_at) WHERE done_at IS NULL AND reminded_at IS NULL;

-- What an agent is told about: an assignment, a customer's reply, a task due, an SLA at risk.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL DEFAULT '',
    conversation_id INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
    task_id         INTEGER REFERENCES tasks (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    read_at         TEXT
);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

-- An agent's availability: what they chose, when the app last said they were there
-- (heartbeat) and when they last did something (idle means away).
CREATE TABLE agent_presence (
    user_id        INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    chosen         TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL,
    last_active_at TEXT NOT NULL,
    changed_at     TEXT NOT NULL
);
CREATE INDEX agent_presence_workspace ON agent_presence (workspace_id);
