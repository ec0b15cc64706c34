//! Knowledge sources, documents and chunks on both backends.

use rapport_core::domain::{SourceKind, SourceStatus};
use rapport_core::ids::WorkspaceId;
use rapport_store::knowledge::{DocumentChange, DocumentUpsert, NewChunk};
use rapport_store::{Store, backend_tests};
use serde_json::json;

backend_tests!(
    unchanged_content_is_recognised_by_its_hash,
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
        DocumentChange::Unchanged(id)
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
