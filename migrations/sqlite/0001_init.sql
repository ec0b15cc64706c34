-- The whole data model of DESIGN.md. Every row carries workspace_id so one database can serve
-- several businesses and every query can be scoped to the caller's workspace.
-- Never edit an applied migration: add a new one.
-- SQLite twin of migrations/postgres/0001_init.sql: same tables, columns and constraints.
-- Times are RFC 3339 text written by the application, so they compare in order as text.
-- AUTOINCREMENT: ids are never reused (a chunk id is also its vector's id in the index).

CREATE TABLE workspaces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
-- Single-tenant installs live in workspace 1.
INSERT INTO workspaces (id, slug, name) VALUES (1, 'default', 'Default workspace');

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash  TEXT,
    disabled_at    TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (workspace_id, email)
);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id       BIGINT REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    -- Only a hash is kept; the token itself is shown once.
    token_hash    TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    last_used_at  TEXT,
    revoked_at    TEXT
);

CREATE TABLE contacts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name               TEXT,
    email              TEXT,
    phone              TEXT,
    attributes         TEXT NOT NULL DEFAULT '{}',
    memory_summary     TEXT NOT NULL DEFAULT '',
    memory_updated_at  TEXT,
    -- A merged contact points at the survivor; unmerge clears it.
    merged_into        BIGINT REFERENCES contacts(id) ON DELETE SET NULL,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX contacts_workspace_email ON contacts (workspace_id, email);
CREATE INDEX contacts_workspace_phone ON contacts (workspace_id, phone);

CREATE TABLE contact_identities (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id    BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    channel       TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    verified      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (workspace_id, channel, external_id)
);
CREATE INDEX contact_identities_contact ON contact_identities (contact_id);

CREATE TABLE conversations (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id              BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id                BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    channel                   TEXT NOT NULL,
    status                    TEXT NOT NULL DEFAULT 'bot' CHECK (status IN ('bot', 'waiting_human', 'human', 'resolved')),
    assignee_id               BIGINT REFERENCES users(id) ON DELETE SET NULL,
    resolution                TEXT CHECK (resolution IN ('ai', 'human', 'abandoned')),
    csat                      INTEGER CHECK (csat BETWEEN 1 AND 5),
    subject                   TEXT,
    -- Channel-side thread key (email Message-ID chain, web session), when the channel has one.
    external_thread_id        TEXT,
    -- Start of the 24-hour customer-service window on WhatsApp and Instagram.
    last_customer_message_at  TEXT,
    last_message_at           TEXT,
    created_at                TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at                TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    resolved_at               TEXT
);
CREATE INDEX conversations_contact ON conversations (contact_id, created_at);
CREATE INDEX conversations_workspace_status ON conversations (workspace_id, status, updated_at);

CREATE TABLE messages (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id          BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    conversation_id       BIGINT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    contact_id            BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    direction             TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    author                TEXT NOT NULL CHECK (author IN ('customer', 'bot', 'agent', 'system')),
    author_user_id        BIGINT REFERENCES users(id) ON DELETE SET NULL,
    channel               TEXT NOT NULL,
    -- The channel's own id (wamid, IG mid, email Message-ID): a repeat is a no-op.
    provider_message_id   TEXT,
    reply_to_provider_id  TEXT,
    kind                  TEXT NOT NULL DEFAULT 'text',
    text                  TEXT NOT NULL DEFAULT '',
    attachments           TEXT NOT NULL DEFAULT '[]',
    citations             TEXT NOT NULL DEFAULT '[]',
    metadata              TEXT NOT NULL DEFAULT '{}',
    internal_note         INTEGER NOT NULL DEFAULT 0,
    delivery_status       TEXT,
    delivery_error        TEXT,
    sent_at               TEXT,
    created_at            TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (workspace_id, channel, provider_message_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);
CREATE INDEX messages_contact ON messages (contact_id, created_at);

CREATE TABLE contact_facts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id         BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    key                TEXT NOT NULL,
    value              TEXT NOT NULL,
    source_message_id  BIGINT REFERENCES messages(id) ON DELETE SET NULL,
    -- Set when an agent corrected the fact; memory updates then leave it alone.
    corrected_by       BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (contact_id, key, value)
);

CREATE TABLE knowledge_sources (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('snippets', 'web', 'articles', 'files', 'conversations')),
    name            TEXT NOT NULL,
    config          TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'ready', 'failed')),
    progress        TEXT NOT NULL DEFAULT '{}',
    error           TEXT,
    last_synced_at  TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);

CREATE TABLE documents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    source_id     BIGINT NOT NULL REFERENCES knowledge_sources(id) ON DELETE CASCADE,
    -- Stable key inside the source (URL, file path, snippet id) so re-sync can match documents.
    external_ref  TEXT NOT NULL,
    title         TEXT NOT NULL DEFAULT '',
    url           TEXT,
    content_hash  TEXT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (source_id, external_ref)
);

CREATE TABLE chunks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    source_id     BIGINT NOT NULL REFERENCES knowledge_sources(id) ON DELETE CASCADE,
    document_id   BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal       INTEGER NOT NULL,
    heading_path  TEXT NOT NULL DEFAULT '',
    text          TEXT NOT NULL,
    hash          TEXT NOT NULL,
    token_count   INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (document_id, ordinal)
);

CREATE TABLE escalations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id     BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    conversation_id  BIGINT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    reason           TEXT NOT NULL,
    summary          TEXT NOT NULL DEFAULT '',
    -- Sources consulted, retrieval scores, the trace of the decision.
    context          TEXT NOT NULL DEFAULT '{}',
    draft            TEXT,
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'resolved')),
    assignee_id      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    claimed_at       TEXT,
    resolved_at      TEXT
);
CREATE INDEX escalations_workspace_status ON escalations (workspace_id, status, created_at);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id     BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    message_id       BIGINT NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    channel          TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    lease_expires_at TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id      BIGINT REFERENCES workspaces(id) ON DELETE CASCADE,
    kind              TEXT NOT NULL,
    payload           TEXT NOT NULL DEFAULT '{}',
    state             TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL DEFAULT 5,
    run_at            TEXT NOT NULL,
    -- A claim writes a fresh token; only its holder may heartbeat, finish or fail the job.
    lease_owner       TEXT,
    lease_token       TEXT,
    lease_expires_at  TEXT,
    last_error        TEXT,
    -- At most one live job per key (e.g. one memory update per contact).
    dedupe_key        TEXT,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    finished_at       TEXT
);
CREATE INDEX jobs_claimable ON jobs (state, run_at);
CREATE UNIQUE INDEX jobs_live_dedupe ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running');
