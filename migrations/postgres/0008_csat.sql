-- CSAT (issue 7): when a conversation closes the customer is asked to rate it, on their channel
-- and by a link; the token names the conversation in that link without exposing its id.
-- Twin of migrations/sqlite/0008_csat.sql.
ALTER TABLE conversations ADD COLUMN csat_token TEXT;
ALTER TABLE conversations ADD COLUMN csat_requested_at TIMESTAMPTZ;
ALTER TABLE conversations ADD COLUMN csat_at TIMESTAMPTZ;
CREATE UNIQUE INDEX conversations_csat_token ON conversations (csat_token);
