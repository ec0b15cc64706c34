//! Knowledge sources, documents and chunks on both backends.

use rapport_core::domain::{CandidateStatus, SourceKind, SourceStatus};
use rapport_core::ids::{ChunkId, WorkspaceId};
use rapport_store::knowledge::{DocumentChange, DocumentUpsert, NewCandidate, NewChunk};
use rapport_store::{Store, backend_tests};
use serde_json::json;

backend_tests!(
    unchanged_content_is_recognised_by_its_hash,
    documents_can_be_listed_edited_and_deleted,
    candidates_are_added_once_per_conversation_and_reviewed,
    resolved_conversations_with_an_agent_reply_are_transcribed,
    replacing_chunks_hands_back_the_old_ids,
    deleting_a_source_deletes_its_documents_and_chunks,
    documents_missing_from_a_resync_are_deleted,
    source_status_keeps_the_error_and_the_sync_time,
);

const WS: WorkspaceId = WorkspaceId::DEFAULT;

fn doc(reference: &str, hash: &str) -> DocumentUpsert {
    DocumentUpsert {
        external_ref: reference.into(),
        title: format!("Title of {reference}"),
        url: Some(format!("https://help.example/{reference}")),
        content_hash: hash.into(),
        metadata: json!({}),
    }
}

fn chunks(n: usize, tag: &str) -> Vec<NewChunk> {
    (0..n)
        .map(|i| NewChunk {
            ordinal: i as i32,
            heading_path: "Setup".into(),
            text: format!("{tag} {i}"),
            hash: format!("{tag}{i}"),
            token_count: 3,
            page: None,
            token_vectors: (i == 0).then(|| vec![1, 2, 3]),
        })
        .collect()
}

async fn unchanged_content_is_recognised_by_its_hash(store: Store) {
    let source = store
        .create_source(WS, SourceKind::Articles, "Help center", &json!({}))
        .await
        .unwrap();
    let DocumentChange::Changed(id) = store
        .upsert_document(WS, source.id, &doc("a", "h1"))
        .await
        .unwrap()
    else {
        panic!("a new document is a change")
    };
    assert_eq!(
        store
            .upsert_document(WS, source.id, &doc("a", "h1"))
            .await
            .unwrap(),
        DocumentChange::Changed(id),
        "a document is unchanged only once its chunks are indexed"
    );
    store
        .mark_document_indexed(id, "h1", Some(&[0.5, -1.0]))
        .await
        .unwrap();
    assert_eq!(
        store
            .upsert_document(WS, source.id, &doc("a", "h1"))
            .await
            .unwrap(),
        DocumentChange::Unchanged(id)
    );
    let (_, chunk_ids) = store
        .replace_chunks(WS, source.id, id, &chunks(1, "a"))
        .await
        .unwrap();
    assert_eq!(
        store.chunk_documents(WS, &chunk_ids).await.unwrap(),
        vec![(chunk_ids[0], id, Some(vec![0.5, -1.0]))],
        "the title vector is kept with the document"
    );
    assert!(
        store
            .chunk_documents(WorkspaceId(999), &chunk_ids)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .upsert_document(WS, source.id, &doc("a", "h2"))
            .await
            .unwrap(),
        DocumentChange::Changed(id)
    );
}

async fn replacing_chunks_hands_back_the_old_ids(store: Store) {
    let source = store
        .create_source(WS, SourceKind::Articles, "Help center", &json!({}))
        .await
        .unwrap();
    let DocumentChange::Changed(d) = store
        .upsert_document(WS, source.id, &doc("a", "h1"))
        .await
        .unwrap()
    else {
        panic!()
    };
    let (removed, first) = store
        .replace_chunks(WS, source.id, d, &chunks(3, "old"))
        .await
        .unwrap();
    assert!(removed.is_empty());
    let (removed, second) = store
        .replace_chunks(WS, source.id, d, &chunks(2, "new"))
        .await
        .unwrap();
    assert_eq!(removed, first);
    assert_eq!(store.count_chunks(source.id).await.unwrap(), 2);
    let views = store
        .chunks_by_ids(WS, &[second[1], first[0], second[0]])
        .await
        .unwrap();
    assert_eq!(
        views.iter().map(|v| v.text.as_str()).collect::<Vec<_>>(),
        vec!["new 1", "new 0"],
        "stale ids are skipped, order kept"
    );
    assert_eq!(views[0].title, "Title of a");
    assert_eq!(views[0].url.as_deref(), Some("https://help.example/a"));
    let rescoring = store
        .chunk_rescoring(WS, &[second[0], second[1], first[0]])
        .await
        .unwrap();
    let tokens: Vec<(ChunkId, Option<Vec<u8>>)> = rescoring
        .iter()
        .map(|r| (r.chunk, r.token_vectors.clone()))
        .collect();
    assert_eq!(tokens.len(), 2, "stale ids are left out: {tokens:?}");
    assert!(
        tokens.contains(&(second[0], Some(vec![1, 2, 3]))) && tokens.contains(&(second[1], None)),
        "token vectors come back as stored, absent where none were: {tokens:?}"
    );
    assert!(rescoring.iter().all(|r| r.document == d));
    assert!(
        store
            .chunk_rescoring(WorkspaceId(999), &second)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .chunks_by_ids(WorkspaceId(999), &second)
            .await
            .unwrap()
            .is_empty(),
        "other workspaces see nothing"
    );
}

async fn deleting_a_source_deletes_its_documents_and_chunks(store: Store) {
    let source = store
        .create_source(WS, SourceKind::Files, "Manuals", &json!({}))
        .await
        .unwrap();
    let DocumentChange::Changed(d) = store
        .upsert_document(WS, source.id, &doc("m.pdf", "h"))
        .await
        .unwrap()
    else {
        panic!()
    };
    let (_, ids) = store
        .replace_chunks(WS, source.id, d, &chunks(4, "page"))
        .await
        .unwrap();
    assert!(store.delete_source(WS, source.id).await.unwrap());
    assert!(store.chunks_by_ids(WS, &ids).await.unwrap().is_empty());
    assert_eq!(store.count_chunks(source.id).await.unwrap(), 0);
    assert!(store.source(WS, source.id).await.is_err());
    assert!(!store.delete_source(WS, source.id).await.unwrap());
}

async fn documents_missing_from_a_resync_are_deleted(store: Store) {
    let source = store
        .create_source(
            WS,
            SourceKind::Web,
            "Site",
            &json!({"start_url": "https://example.com"}),
        )
        .await
        .unwrap();
    let keep = store
        .upsert_document(WS, source.id, &doc("kept", "h"))
        .await
        .unwrap();
    let DocumentChange::Changed(gone) = store
        .upsert_document(WS, source.id, &doc("gone", "h"))
        .await
        .unwrap()
    else {
        panic!()
    };
    let DocumentChange::Changed(kept) = keep else {
        panic!()
    };
    store
        .replace_chunks(WS, source.id, gone, &chunks(2, "gone"))
        .await
        .unwrap();
    let deleted = store
        .delete_documents_except(source.id, &[kept])
        .await
        .unwrap();
    assert_eq!(deleted, vec![gone]);
    assert_eq!(store.count_chunks(source.id).await.unwrap(), 0);
}

async fn source_status_keeps_the_error_and_the_sync_time(store: Store) {
    let source = store
        .create_source(WS, SourceKind::Snippets, "FAQ", &json!({}))
        .await
        .unwrap();
    assert_eq!(source.status, SourceStatus::Queued);
    store
        .set_source_status(
            source.id,
            SourceStatus::Failed,
            Some("this CSV file cannot be read"),
        )
        .await
        .unwrap();
    let failed = store.source(WS, source.id).await.unwrap();
    assert_eq!(
        (failed.status, failed.error.as_deref()),
        (SourceStatus::Failed, Some("this CSV file cannot be read"))
    );
    assert!(failed.last_synced_at.is_none());
    store
        .set_source_progress(
            source.id,
            &json!({"documents_done": 3, "documents_total": 3}),
        )
        .await
        .unwrap();
    store
        .set_source_status(source.id, SourceStatus::Ready, None)
        .await
        .unwrap();
    let ready = store.source(WS, source.id).await.unwrap();
    assert_eq!((ready.status, ready.error), (SourceStatus::Ready, None));
    assert!(ready.last_synced_at.is_some());
    assert_eq!(ready.progress["documents_done"], 3);
    assert_eq!(store.sources(WS).await.unwrap().len(), 1);
}

async fn documents_can_be_listed_edited_and_deleted(store: Store) {
    let source = store
        .create_source(WS, SourceKind::Snippets, "FAQ", &json!({}))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for reference in ["a", "b", "c"] {
        let DocumentChange::Changed(id) = store
            .upsert_document(WS, source.id, &doc(reference, "h"))
            .await
            .unwrap()
        else {
            panic!()
        };
        store.mark_document_indexed(id, "h", None).await.unwrap();
        ids.push(id);
    }
    store
        .replace_chunks(WS, source.id, ids[0], &chunks(2, "a"))
        .await
        .unwrap();
    assert_eq!(store.count_documents(source.id).await.unwrap(), 3);
    let page = store.documents(WS, source.id, 2, 0).await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(
        (page[0].external_ref.as_str(), page[0].chunk_count),
        ("a", 2)
    );
    let chunks_of_a = store.document_chunks(WS, ids[0]).await.unwrap();
    assert_eq!(chunks_of_a.len(), 2);
    assert_eq!(chunks_of_a[0].source_kind, "snippets");

    store
        .edit_document(WS, ids[1], "New title", &json!({"question": "q?"}))
        .await
        .unwrap();
    let edited = store.document(WS, ids[1]).await.unwrap();
    assert_eq!(
        (edited.title.as_str(), &edited.metadata),
        ("New title", &json!({"question": "q?"}))
    );
    assert_eq!(
        store
            .upsert_document(WS, source.id, &doc("b", "h"))
            .await
            .unwrap(),
        DocumentChange::Changed(ids[1]),
        "an edited document must be indexed again"
    );
    let stored = store.stored_documents(source.id).await.unwrap();
    assert_eq!(stored.len(), 3);

    assert!(store.delete_document(WS, ids[2]).await.unwrap());
    assert!(
        !store
            .delete_document(WorkspaceId(999), ids[0])
            .await
            .unwrap()
    );
    assert!(store.document(WS, ids[2]).await.is_err());
    assert!(
        store
            .edit_document(WS, ids[2], "x", &json!({}))
            .await
            .is_err()
    );
}

async fn candidates_are_added_once_per_conversation_and_reviewed(store: Store) {
    let source = store
        .create_source(WS, SourceKind::Conversations, "Past chats", &json!({}))
        .await
        .unwrap();
    let added = store
        .add_candidate(
            WS,
            source.id,
            &NewCandidate {
                conversation_ref: "conv-1",
                question: "Can I pause?",
                answer: "Yes, up to 3 months.",
                status: CandidateStatus::Pending,
                privacy_version: 1,
            },
        )
        .await
        .unwrap();
    let again = store
        .add_candidate(
            WS,
            source.id,
            &NewCandidate {
                conversation_ref: "conv-1",
                question: "other",
                answer: "other",
                status: CandidateStatus::Pending,
                privacy_version: 1,
            },
        )
        .await
        .unwrap();
    assert!(added && !again);
    let pending = store
        .candidates(WS, Some(CandidateStatus::Pending))
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].question, "Can I pause?");
    assert!(
        store
            .approved_candidates(source.id)
            .await
            .unwrap()
            .is_empty()
    );

    let approved = store
        .review_candidate(
            WS,
            pending[0].id,
            CandidateStatus::Approved,
            None,
            Some("Yes, for up to 3 months."),
        )
        .await
        .unwrap();
    assert_eq!(approved.status, CandidateStatus::Approved);
    assert_eq!(approved.answer, "Yes, for up to 3 months.");
    assert_eq!(store.approved_candidates(source.id).await.unwrap().len(), 1);
    assert!(
        store
            .candidates(WS, Some(CandidateStatus::Pending))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.candidates(WS, None).await.unwrap().len(), 1);
    assert!(
        store
            .review_candidate(
                WorkspaceId(999),
                pending[0].id,
                CandidateStatus::Rejected,
                None,
                None
            )
            .await
            .is_err()
    );
}

async fn resolved_conversations_with_an_agent_reply_are_transcribed(store: Store) {
    use rapport_core::domain::{Author, Channel, Direction, Resolution};
    use rapport_store::contacts::NewContact;
    use rapport_store::messages::NewMessage;

    let contact: rapport_core::ids::ContactId = store
        .create_contact(WS, &NewContact::default())
        .await
        .unwrap()
        .id
        .into();
    let mut conversations = Vec::new();
    for (agent_replies, resolve) in [(true, true), (false, true), (true, false)] {
        let conversation = store
            .open_conversation(WS, contact, Channel::Email, false)
            .await
            .unwrap();
        let say = |author: Author, text: &str| NewMessage {
            conversation_id: conversation,
            contact_id: contact,
            direction: if author == Author::Customer {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            author,
            channel: Channel::Email,
            provider_message_id: None,
            kind: "text".into(),
            text: text.into(),
            attachments: json!([]),
            sent_at: None,
        };
        store
            .insert_message(WS, &say(Author::Customer, "My plug is dead"))
            .await
            .unwrap();
        store
            .insert_message(WS, &say(Author::Bot, "Have you tried…"))
            .await
            .unwrap();
        if agent_replies {
            store
                .insert_message(WS, &say(Author::Agent, "Hold the button for 10 s."))
                .await
                .unwrap();
        }
        if resolve {
            store
                .resolve_conversation(WS, conversation, Resolution::Human)
                .await
                .unwrap();
        }
        conversations.push(conversation);
    }

    let lines = store.resolved_transcripts(WS).await.unwrap();
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.conversation_id, l.author.as_str(), l.text.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (conversations[0].0, "customer", "My plug is dead"),
            (conversations[0].0, "agent", "Hold the button for 10 s."),
        ]
    );
}
