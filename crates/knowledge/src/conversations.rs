//! Conversations sources: past conversations mined into candidate Q&A pairs, with personal
//! data removed before anything is stored ([`crate::mining`]), condensed by the chat model when
//! one is configured, and candidates mined by older rules cleaned again.

use std::collections::HashSet;
use std::path::PathBuf;

use rapport_core::domain::CandidateStatus;
use rapport_core::ids::WorkspaceId;
use rapport_privacy::{IdentifierKind, PersonName, Role};
use rapport_store::knowledge::{NewCandidate, Source};

use crate::base::KnowledgeBase;
use crate::connectors;
use crate::mining::{self, Mined, MinedPair, MiningContext, MiningReport, Transcript};
use crate::sources::ConversationsConfig;
use crate::{Error, Result};

impl KnowledgeBase {
    /// Queues a sync of every conversations source that holds candidates older mining rules
    /// (or none) cleaned: that sync cleans them again, or removes those that give no general
    /// pair. Returns how many sources were queued.
    pub async fn queue_candidate_cleaning(&self) -> Result<usize> {
        let sources = self
            .store
            .sources_with_uncleaned_candidates(mining::PRIVACY_VERSION)
            .await?;
        for (ws, id) in &sources {
            self.resync(*ws, *id).await?;
        }
        Ok(sources.len())
    }

    /// Mines the source's conversations into candidates: general pairs with personal data
    /// removed, condensed by the chat model when one is configured. Candidates that older
    /// rules mined are cleaned again, or removed when no general pair is left of them.
    pub(crate) async fn mine_conversations(
        &self,
        source: &Source,
        config: &ConversationsConfig,
    ) -> Result<MiningReport> {
        let ws = source.workspace_id;
        let status = if config.auto_approve {
            CandidateStatus::Approved
        } else {
            CandidateStatus::Pending
        };
        let transcripts = self.transcripts(ws, config).await?;
        let context = self.mining_context(ws, &transcripts).await?;
        let mut report = MiningReport {
            conversations: transcripts.len(),
            ..MiningReport::default()
        };
        let mut pairs: Vec<MinedPair> = Vec::new();
        let mut left_out: HashSet<String> = HashSet::new();
        for transcript in &transcripts {
            let mined = mining::mine(transcript, &context);
            report.count(&mined);
            match mined {
                Mined::Pair(pair) => pairs.push(pair),
                Mined::LeftOut {
                    conversation_ref, ..
                } => {
                    left_out.insert(conversation_ref);
                }
            }
        }
        let known = self.store.candidate_refs(source.id).await?;
        let earlier = self
            .store
            .candidates_cleaned_before(source.id, mining::PRIVACY_VERSION)
            .await?;
        let rewrite: HashSet<&str> = earlier
            .iter()
            .map(|c| c.conversation_ref.as_str())
            .collect();
        if let Some(condenser) = &self.condenser {
            // Only pairs whose text is written now: a re-sync costs no model call.
            for pair in pairs.iter_mut().filter(|p| {
                !known.contains(&p.conversation_ref)
                    || rewrite.contains(p.conversation_ref.as_str())
            }) {
                if let Some((question, answer)) =
                    condenser.condense(&pair.question, &pair.answer).await
                {
                    // The model saw no personal data; what it writes is checked all the same.
                    let (question, answer) =
                        mining::redact_condensed(pair, &question, &answer, &context);
                    pair.question = question;
                    pair.answer = answer;
                }
            }
        }
        for candidate in &earlier {
            let reference = candidate.conversation_ref.as_str();
            if let Some(pair) = pairs.iter().find(|p| p.conversation_ref == reference) {
                self.store
                    .reclean_candidate(
                        candidate.id,
                        &pair.question,
                        &pair.answer,
                        mining::PRIVACY_VERSION,
                    )
                    .await?;
                report.recleaned += 1;
            } else if left_out.contains(reference) {
                self.store.delete_candidate(candidate.id).await?;
                report.removed += 1;
            } else {
                // Its conversation is no longer read (an export that changed): clean what is kept.
                let (question, answer) =
                    mining::redact_pair(&candidate.question, &candidate.answer, &context);
                self.store
                    .reclean_candidate(candidate.id, &question, &answer, mining::PRIVACY_VERSION)
                    .await?;
                report.recleaned += 1;
            }
        }
        for pair in &pairs {
            let added = self
                .store
                .add_candidate(
                    ws,
                    source.id,
                    &NewCandidate {
                        conversation_ref: &pair.conversation_ref,
                        question: &pair.question,
                        answer: &pair.answer,
                        status,
                        privacy_version: mining::PRIVACY_VERSION,
                    },
                )
                .await?;
            report.candidates_added += usize::from(added);
        }
        Ok(report)
    }

    /// An admin's edit of a candidate without names and identifiers (the business's own, which
    /// its other knowledge mentions, stay).
    pub(crate) async fn clean_edit(
        &self,
        ws: WorkspaceId,
        question: &str,
        answer: &str,
    ) -> Result<(String, String)> {
        let edit = Transcript {
            conversation_ref: String::new(),
            messages: vec![
                ("customer".to_owned(), question.to_owned()),
                ("agent".to_owned(), answer.to_owned()),
            ],
            names: Vec::new(),
        };
        let context = self.mining_context(ws, std::slice::from_ref(&edit)).await?;
        Ok(mining::redact_edit(question, answer, &context))
    }

    /// The conversations a source reads: an export, the workspace's resolved ones, or both.
    async fn transcripts(
        &self,
        ws: WorkspaceId,
        config: &ConversationsConfig,
    ) -> Result<Vec<Transcript>> {
        let mut transcripts = Vec::new();
        if let Some(path) = &config.import_path {
            let path = PathBuf::from(path);
            transcripts.extend(
                tokio::task::spawn_blocking(move || connectors::read_conversation_export(&path))
                    .await
                    .map_err(|e| Error::Invalid(format!("conversation reader panicked: {e}")))??,
            );
        }
        if config.mine_resolved {
            for line in self.store.resolved_transcripts(ws).await? {
                let reference = format!("conversation:{}", line.conversation_id);
                if transcripts
                    .last()
                    .is_none_or(|t: &Transcript| t.conversation_ref != reference)
                {
                    transcripts.push(Transcript {
                        conversation_ref: reference,
                        messages: Vec::new(),
                        names: customer_names(line.contact_name.as_deref()),
                    });
                }
                if let Some(t) = transcripts.last_mut() {
                    t.messages.push((line.author, line.text));
                }
            }
        }
        Ok(transcripts)
    }

    /// What tells personal data from knowledge in this workspace: its agents' names, the words
    /// of its knowledge's titles (never names), and which e-mail addresses and phone numbers in
    /// the conversations are the business's own (its other knowledge mentions them).
    async fn mining_context(
        &self,
        ws: WorkspaceId,
        transcripts: &[Transcript],
    ) -> Result<MiningContext> {
        let mut context = MiningContext::default();
        for user in self.store.users(ws).await? {
            context.known_names.extend(agent_names(&user.name));
        }
        for title in self.store.document_titles(ws, 2_000).await? {
            context.not_names.extend(
                title
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 1)
                    .map(str::to_lowercase),
            );
        }
        let mut seen: HashSet<String> = HashSet::new();
        for (author, text) in transcripts.iter().flat_map(|t| &t.messages) {
            if author != "agent" {
                continue;
            }
            for found in rapport_privacy::identifiers::find(text) {
                let business_like =
                    matches!(found.kind, IdentifierKind::Email | IdentifierKind::Phone);
                if business_like
                    && seen.insert(found.text.clone())
                    && self.store.knowledge_mentions(ws, &found.text).await?
                {
                    context.business_identifiers.push((found.kind, found.text));
                }
            }
        }
        Ok(context)
    }
}

/// A contact's name as names to remove: the whole, and the first name alone.
fn customer_names(name: Option<&str>) -> Vec<PersonName> {
    person_names(name.unwrap_or(""), Role::Customer)
}

fn agent_names(name: &str) -> Vec<PersonName> {
    person_names(name, Role::Agent)
}

fn person_names(name: &str, role: Role) -> Vec<PersonName> {
    let name = name.trim();
    // An e-mail address as a display name, or initials, are no name to look for in text.
    if name.contains('@') || name.chars().filter(|c| c.is_alphabetic()).count() < 2 {
        return Vec::new();
    }
    let mut names = vec![PersonName {
        name: name.to_owned(),
        role,
    }];
    if let Some(first) = name.split_whitespace().next()
        && first != name
        && first.chars().count() > 1
    {
        names.push(PersonName {
            name: first.to_owned(),
            role,
        });
    }
    names
}
