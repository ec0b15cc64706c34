-- Lookups by a conversation's escalation, and by an identity's external id or a contact's
-- e-mail in the disclosure check (crates/store/src/ownership.rs), without walking the whole
-- workspace.
CREATE INDEX escalations_conversation ON escalations (conversation_id, status);
CREATE INDEX contact_identities_external ON contact_identities (workspace_id, external_id);
CREATE INDEX contacts_workspace_lower_email ON contacts (workspace_id, lower(email));
