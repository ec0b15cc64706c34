//! The outbox on both backends: a reply's delivery names the customer on its channel and the
//! message it answers, claims are exclusive and expire, and only the claim's holder records
//! the outcome, which agents then see on the message.

use std::time::Duration;

use chrono::Utc;
use rapport_core::domain::{Author, Channel, Direction};
use rapport_core::ids::{ContactId, ConversationId, WorkspaceId};
use rapport_store::contacts::NewContact;
use rapport_store::messages::{NewMessage, NewReply};
use rapport_store::{Store, backend_tests};
use serde_json::json;

backend_tests!(
    a_reply_is_delivered_to_the_customer_it_answers_within_their_window,
    a_claimed_delivery_is_not_claimed_again_until_its_lease_expires,
    only_the_claims_holder_records_the_outcome_and_agents_see_it,
    a_failed_delivery_can_be_queued_again,
    an_internal_note_never_reaches_the_outbox,
);

const WS: WorkspaceId = WorkspaceId::DEFAULT;
const LEASE: Duration = Duration::from_secs(30);

/// A new WhatsApp customer who wrote `hours_ago`, and the bot's reply to it.
async fn conversation_with_reply(store: &Store, hours_ago: i64) -> (ConversationId, i64) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let number = format!("1415555{:04}", n);
    let wamid = format!("wamid.{n}");
    let contact = store
        .create_contact(WS, &NewContact::default())
        .await
        .unwrap();
    store
        .add_identity(WS, ContactId(contact.id), Channel::Whatsapp, &number, true)
        .await
        .unwrap();
    let conversation = store
        .open_conversation(WS, ContactId(contact.id), Channel::Whatsapp, false)
        .await
        .unwrap();
    store
        .receive_message(
            WS,
            &NewMessage {
                conversation_id: conversation,
                contact_id: ContactId(contact.id),
                direction: Direction::Inbound,
                author: Author::Customer,
                channel: Channel::Whatsapp,
                provider_message_id: Some(wamid),
                kind: "text".into(),
                text: "where is my order?".into(),
                attachments: json!([]),
                sent_at: Some(Utc::now() - chrono::Duration::hours(hours_ago)),
            },
            None,
        )
        .await
        .unwrap();
    let reply = store
        .add_reply(
            WS,
            &NewReply {
                conversation_id: conversation,
                contact_id: ContactId(contact.id),
                author: Author::Bot,
                channel: Channel::Whatsapp,
                text: "It ships tomorrow.".into(),
                citations: json!([]),
                metadata: json!({}),
                deliver: true,
            },
        )
        .await
        .unwrap();
    (conversation, reply.0)
}

async fn a_reply_is_delivered_to_the_customer_it_answers_within_their_window(store: Store) {
    let (conversation, reply) = conversation_with_reply(&store, 2).await;
    let claim = store.claim_delivery(LEASE).await.unwrap().expect("due");
    let d = &claim.delivery;
    assert_eq!(d.message_id, reply);
    assert_eq!(d.conversation_id, conversation.0);
    assert_eq!(d.channel, Channel::Whatsapp);
    let number = d.recipient.clone().expect("the customer's number");
    assert!(number.starts_with("1415555"), "{number}");
    let wamid = d.reply_to.clone().expect("the message it answers");
    assert!(wamid.starts_with("wamid."), "{wamid}");
    assert_eq!(d.thread, vec![wamid]);
    assert_eq!(d.attempt, 1);
    assert!(d.within_window(chrono::Duration::hours(24), Utc::now()));
    assert!(!d.within_window(chrono::Duration::hours(1), Utc::now()));
}

async fn a_claimed_delivery_is_not_claimed_again_until_its_lease_expires(store: Store) {
    conversation_with_reply(&store, 0).await;
    let first = store
        .claim_delivery(Duration::from_millis(200))
        .await
        .unwrap()
        .expect("due");
    assert!(store.claim_delivery(LEASE).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = store.claim_delivery(LEASE).await.unwrap().expect("expired");
    assert_eq!(again.delivery.message_id, first.delivery.message_id);
    assert_eq!(again.delivery.attempt, 2);
}

async fn only_the_claims_holder_records_the_outcome_and_agents_see_it(store: Store) {
    let (_, reply) = conversation_with_reply(&store, 0).await;
    let stale = store
        .claim_delivery(Duration::from_millis(1))
        .await
        .unwrap()
        .expect("due");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let live = store.claim_delivery(LEASE).await.unwrap().expect("expired");
    assert!(
        store
            .delivery_sent(&live, Some("wamid.OUT"), "sent", None)
            .await
            .unwrap()
    );
    assert!(!store.delivery_failed(&stale, "too late").await.unwrap());
    let m = store
        .message_by_provider_id(WS, Channel::Whatsapp, "wamid.OUT")
        .await
        .unwrap()
        .expect("known by the provider's id");
    assert_eq!(m.id, reply);
    assert_eq!(m.delivery_status.as_deref(), Some("sent"));
    assert!(store.claim_delivery(LEASE).await.unwrap().is_none());
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.sent, counts.pending, counts.failed), (1, 0, 0));
}

async fn a_failed_delivery_can_be_queued_again(store: Store) {
    let (_, reply) = conversation_with_reply(&store, 0).await;
    let claim = store.claim_delivery(LEASE).await.unwrap().expect("due");
    let later = Utc::now() + chrono::Duration::hours(1);
    assert!(
        store
            .delivery_retry(&claim, "HTTP 503", later)
            .await
            .unwrap()
    );
    assert!(
        store.claim_delivery(LEASE).await.unwrap().is_none(),
        "not due before its next attempt"
    );
    let m = store
        .message(WS, rapport_core::ids::MessageId(reply))
        .await
        .unwrap();
    assert_eq!(m.delivery_status.as_deref(), Some("queued"));
    assert_eq!(m.delivery_error.as_deref(), Some("retrying: HTTP 503"));

    assert!(
        !store
            .retry_delivery(WS, rapport_core::ids::MessageId(reply))
            .await
            .unwrap(),
        "only a failed delivery is retried by hand"
    );
    // A retry the agent asks for after a permanent failure starts over.
    let (_, second) = conversation_with_reply(&store, 0).await;
    let claim = store.claim_delivery(LEASE).await.unwrap().expect("due");
    assert_eq!(claim.delivery.message_id, second);
    assert!(
        store
            .delivery_failed(&claim, "131026: Message Undeliverable.")
            .await
            .unwrap()
    );
    let m = store
        .message(WS, rapport_core::ids::MessageId(second))
        .await
        .unwrap();
    assert_eq!(m.delivery_status.as_deref(), Some("failed"));
    assert_eq!(
        m.delivery_error.as_deref(),
        Some("131026: Message Undeliverable.")
    );
    assert!(
        store
            .retry_delivery(WS, rapport_core::ids::MessageId(second))
            .await
            .unwrap()
    );
    let again = store
        .claim_delivery(LEASE)
        .await
        .unwrap()
        .expect("due again");
    assert_eq!(again.delivery.message_id, second);
    assert_eq!(again.delivery.attempt, 1);
}

async fn an_internal_note_never_reaches_the_outbox(store: Store) {
    let (conversation, _) = conversation_with_reply(&store, 0).await;
    let claim = store
        .claim_delivery(LEASE)
        .await
        .unwrap()
        .expect("the bot's reply");
    store
        .delivery_sent(&claim, Some("wamid.B"), "sent", None)
        .await
        .unwrap();
    store
        .add_agent_message(
            WS,
            conversation,
            Channel::Whatsapp,
            "VIP, be nice",
            true,
            None,
        )
        .await
        .unwrap();
    assert!(store.claim_delivery(LEASE).await.unwrap().is_none());
    let reply = store
        .add_agent_message(WS, conversation, Channel::Whatsapp, "Hello!", false, None)
        .await
        .unwrap();
    let claim = store
        .claim_delivery(LEASE)
        .await
        .unwrap()
        .expect("the agent's reply");
    assert_eq!(claim.delivery.message_id, reply.0);
    assert_eq!(claim.delivery.author, "agent");
}
