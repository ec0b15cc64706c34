-- Past conversations teach general questions and answers only, never someone's conversation
-- (issue 19). Twin of migrations/postgres/0011_private_knowledge.sql.

-- The version of the mining rules that removed personal data from the pair; NULL for pairs
-- mined before they did, which the next sync of their source cleans (the server queues that
-- sync when it starts).
ALTER TABLE knowledge_candidates ADD COLUMN privacy_version BIGINT;

-- The answer-time guard asks whether an order number, e-mail or phone in a reply is another
-- customer's, and whether a name in it is another contact's first name.
CREATE INDEX contact_facts_value ON contact_facts (workspace_id, value);
CREATE INDEX contacts_first_name ON contacts (workspace_id, lower(CASE WHEN instr(name, ' ') > 0 THEN substr(name, 1, instr(name, ' ') - 1) ELSE name END));
