-- Knowledge ingestion (issue 3): page numbers for citations of PDFs, title embeddings, and Q&A
-- candidates mined from resolved conversations, which an admin approves before they are indexed.

ALTER TABLE chunks ADD COLUMN page INTEGER;

-- The embedding of the document's title (little-endian f32s), compared with the question at
-- search time to favour documents whose subject is what was asked.
ALTER TABLE documents ADD COLUMN title_vector BLOB;

CREATE TABLE knowledge_candidates (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id      BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    source_id         BIGINT NOT NULL REFERENCES knowledge_sources(id) ON DELETE CASCADE,
    -- The conversation the pair came from: a conversation id, or the id in an imported export.
    conversation_ref  TEXT NOT NULL,
    question          TEXT NOT NULL,
    answer            TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    reviewed_at       TEXT,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
    -- Mining a conversation again never makes a second candidate of it.
    UNIQUE (source_id, conversation_ref)
);
CREATE INDEX knowledge_candidates_status ON knowledge_candidates (workspace_id, status, id);
