-- Workspace settings edited by admins in the app (issue 6): what the bot is called and how it
-- behaves, business hours, model choices, and channel credentials. `settings` is readable by
-- admins; `secrets` is write-only (the API says which are set, never their values).
-- Twin of migrations/sqlite/0009_settings.sql.
CREATE TABLE workspace_settings (
    workspace_id BIGINT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    settings     JSONB NOT NULL DEFAULT '{}',
    secrets      JSONB NOT NULL DEFAULT '{}',
    updated_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- Playground and batch-test conversations: kept (their traces are useful) but never counted in
-- analytics nor mined for Q&A.
ALTER TABLE conversations ADD COLUMN test BOOLEAN NOT NULL DEFAULT FALSE;
