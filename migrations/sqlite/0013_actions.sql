-- Actions (issue 17): HTTP calls the agent makes for a customer — look an order up, cancel it.
-- `definition` is the admin's description of the call (the agent crate owns its shape, so a new
-- field needs no migration); `secrets` holds the write-only header values, sealed like channel
-- credentials. Twin of migrations/postgres/0013_actions.sql.
CREATE TABLE actions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1,
    definition   TEXT NOT NULL DEFAULT '{}',
    secrets      TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (workspace_id, name)
);

-- Every call an action made, for the trace, the timeline and the audit: inputs with personal
-- data redacted, what came back, who confirmed a write.
CREATE TABLE action_calls (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    action_id       INTEGER REFERENCES actions (id) ON DELETE SET NULL,
    action_name     TEXT NOT NULL,
    conversation_id INTEGER REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    contact_id      INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    inputs          TEXT NOT NULL DEFAULT '{}',
    outcome         TEXT NOT NULL,
    http_status     INTEGER,
    latency_ms      INTEGER NOT NULL DEFAULT 0,
    summary         TEXT NOT NULL DEFAULT '',
    error           TEXT,
    confirmed_by    INTEGER REFERENCES messages (id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX action_calls_conversation ON action_calls (conversation_id, id);
CREATE INDEX action_calls_workspace ON action_calls (workspace_id, created_at);
-- The per-customer rate limit counts a customer's recent calls.
CREATE INDEX action_calls_contact ON action_calls (workspace_id, contact_id, created_at);

-- An action waiting on the customer: an input to give or a write to confirm. Kept per customer
-- (the root contact), not per conversation, so it survives a channel switch.
CREATE TABLE action_sessions (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    action_id    INTEGER NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    inputs       TEXT NOT NULL DEFAULT '{}',
    awaiting     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    PRIMARY KEY (workspace_id, contact_id)
);

-- One-time codes that prove a customer owns the e-mail address or phone on file.
CREATE TABLE contact_verifications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    contact_id   INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    code_hash    TEXT NOT NULL,
    sent_to      TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    verified_at  TEXT,
    verified_until TEXT
);
CREATE INDEX contact_verifications_contact ON contact_verifications (workspace_id, contact_id, created_at);
