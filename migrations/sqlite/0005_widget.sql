-- The web chat widget (issue 5): a visitor's session. The widget keeps the token in the browser's
-- localStorage and presents it again after a page reload; only its SHA-256 is stored, so a copy
-- of the database cannot be used to read visitors' conversations.
-- A session names the web-chat identity its messages are sent as: `visitor:<visitor_id>` for an
-- anonymous visitor, `user:<user_id>` when the business's site signed who is logged in (so one
-- user on two devices is one identity).
-- SQLite twin of migrations/postgres/0005_widget.sql.
CREATE TABLE widget_sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    -- Public and random: it names the anonymous identity, never authenticates anything.
    visitor_id    TEXT NOT NULL UNIQUE,
    external_id   TEXT NOT NULL,
    -- What the site's signature vouched for; all NULL for an anonymous visitor.
    user_id       TEXT,
    email         TEXT,
    phone         TEXT,
    -- The page origin that started the session, for agents and abuse reports.
    origin        TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    last_seen_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
);
CREATE INDEX widget_sessions_identity ON widget_sessions (workspace_id, external_id);
CREATE INDEX widget_sessions_last_seen ON widget_sessions (last_seen_at);
