-- Each chunk's token vectors for late-interaction scoring in hybrid search (issue 3): the
-- content word pieces' contextual vectors, int8 with a scale each (see
-- crates/knowledge/src/late.rs for the layout). NULL for chunks indexed before, which hybrid
-- search then ranks without it.
-- Twin of migrations/postgres/0010_token_vectors.sql.
ALTER TABLE chunks ADD COLUMN token_vectors BLOB;
