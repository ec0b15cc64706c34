-- The agent (issue 4): merge keys that tie a customer's identities on different channels to one
-- contact, and the point from which the bot owns a conversation again after a hand-back.
-- SQLite twin of migrations/postgres/0003_agent.sql.

-- A verified phone number (E.164) or e-mail address of a contact. Two identities that prove the
-- same key belong to the same customer; the unique constraint makes "who has this key" one
-- lookup. Keys stay with the contact that proved them, so an unmerge gives them back.
CREATE TABLE contact_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    contact_id    BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('phone', 'email')),
    value         TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    UNIQUE (workspace_id, kind, value)
);
CREATE INDEX contact_keys_contact ON contact_keys (contact_id);
CREATE INDEX contacts_merged_into ON contacts (merged_into);

-- Set when an agent hands a conversation back to the bot: escalation guards (repeated failure,
-- frustration) only look at what happened after it, so a reopened conversation does not bounce
-- straight back to the inbox.
ALTER TABLE conversations ADD COLUMN bot_since TEXT;

-- An agent's correction of a fact (edit or removal) wins over later automatic memory updates:
-- a removed fact stays as a tombstone so the same extraction does not bring it back.
ALTER TABLE contact_facts ADD COLUMN corrected_at TEXT;
ALTER TABLE contact_facts ADD COLUMN deleted_at TEXT;
