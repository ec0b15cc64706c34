-- Workspace settings edited by admins in the app (issue 6): what the bot is called and how it
-- behaves, business hours, model choices, and channel credentials. `settings` is readable by
-- admins; `secrets` is write-only (the API says which are set, never their values).
-- Twin of migrations/postgres/0009_settings.sql.
CREATE TABLE workspace_settings (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    settings     TEXT NOT NULL DEFAULT '{}',
    secrets      TEXT NOT NULL DEFAULT '{}',
    updated_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    updated_at   TEXT NOT NULL
);

-- Playground and batch-test conversations: kept (their traces are useful) but never counted in
-- analytics nor mined for Q&A.
ALTER TABLE conversations ADD COLUMN test INTEGER NOT NULL DEFAULT 0;
