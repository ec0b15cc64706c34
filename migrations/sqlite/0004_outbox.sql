-- The outbox sender (issue 5): a claim writes a fresh token, and only its holder may record the
-- outcome, so a sender whose lease expired (a slow provider, a paused process) cannot overwrite
-- what the sender that took the row over recorded.
-- SQLite twin of migrations/postgres/0004_outbox.sql.
ALTER TABLE outbox ADD COLUMN lease_token TEXT;
