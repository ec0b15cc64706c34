-- Guards every node must share and a restart must not forget (issue 22). Twin of
-- migrations/sqlite/0016_shared_guards.sql.

-- Sign-in attempts per key (`email:…`, `client:…`) in the current window. An attempt is counted
-- before its password is checked, so concurrent guesses cannot all get through.
CREATE TABLE sign_in_attempts (
    key               TEXT PRIMARY KEY,
    attempts          BIGINT NOT NULL,
    window_started_at TIMESTAMPTZ NOT NULL
);

-- Signed-webhook tokens already seen (Mailgun), with the digest of the body they came with: a
-- provider's retry brings the same body; a captured token with another body is a replay.
CREATE TABLE webhook_tokens (
    provider   TEXT NOT NULL,
    token      TEXT NOT NULL,
    digest     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider, token)
);
CREATE INDEX webhook_tokens_expiry ON webhook_tokens (expires_at);

-- Job lanes: customer-facing jobs (replies: 0) are claimed before background work (knowledge
-- syncs: 1), and some workers take only the former, so a reply never waits behind a sync.
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_claimable_by_priority ON jobs (state, priority, run_at);

-- A routing rule of the team's (issue 18): when routing gives one of its escalations to an
-- agent, a follow-up task for that agent is due this many minutes later (NULL: none).
ALTER TABLE teams ADD COLUMN follow_up_minutes BIGINT;
