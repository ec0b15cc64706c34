//! The e-mail channel end to end: Mailgun posts a customer's raw mail to the real app, the bot
//! answers from the knowledge base, and the answer leaves over SMTP to a server this test runs
//! on loopback, which records what it was told (and can defer or refuse, like a real one).
//! Threading, quote stripping, signatures, retries and the merge with a signed web identity are
//! all checked on what went over the wire.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Backend, TestApp};
use mail_parser::{MessageParser, MimeHeaders};
use rapport_agent::identity::SignedIdentity;
use rapport_channels::email::mailgun;
use rapport_channels::outbox::Outcome;
use rapport_core::domain::{Channel, ConversationStatus};
use rapport_core::ids::{ContactId, ConversationId, WorkspaceId};
use rapport_server::config::Secret;
use rapport_store::messages::TimelineMessage;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const WS: WorkspaceId = WorkspaceId::DEFAULT;
const SIGNING_KEY: &str = "key-5bd2ae6a1c0f4e9d8b7a6c5d4e3f2a1b";
const FROM: &str = "Acme Support <support@acme.test>";
const FIRST_ID: &str = "CAHk8=wj3v1Ana+0xQ@mail.example.com";
const REPLY_ID: &str = "CAHk8=wh5Reply2+Ana@mail.example.com";

// ---- an SMTP server on loopback -------------------------------------------------------------

/// One mail as the SMTP server received it.
#[derive(Debug, Clone, Default)]
struct Received {
    mail_from: String,
    rcpt_to: Vec<String>,
    data: Vec<u8>,
}

#[derive(Default)]
struct SmtpState {
    mails: Vec<Received>,
    /// Replies to the next `RCPT TO` commands, instead of 250.
    script: VecDeque<String>,
    rcpt_attempts: usize,
}

/// A minimal ESMTP server: enough of RFC 5321 for lettre, recording every mail.
struct Smtp {
    addr: SocketAddr,
    state: Arc<Mutex<SmtpState>>,
}

impl Smtp {
    async fn start() -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind SMTP");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(SmtpState::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        Smtp { addr, state }
    }

    fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The next recipient is answered `reply` (e.g. a 4xx or 5xx line).
    fn answer_next_recipient(&self, reply: &str) {
        self.state
            .lock()
            .expect("lock")
            .script
            .push_back(reply.to_owned());
    }

    fn mails(&self) -> Vec<Received> {
        self.state.lock().expect("lock").mails.clone()
    }

    fn rcpt_attempts(&self) -> usize {
        self.state.lock().expect("lock").rcpt_attempts
    }

    /// Waits until `n` mails have been received.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the SMTP server received {} mail(s), expected {n}",
            self.mails().len()
        );
    }
}

async fn session(stream: tokio::net::TcpStream, state: Arc<Mutex<SmtpState>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut current = Received::default();
    say(&mut write, "220 smtp.test ESMTP ready\r\n").await;
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            say(
                &mut write,
                "250-smtp.test\r\n250-8BITMIME\r\n250 SIZE 31457280\r\n",
            )
            .await;
        } else if upper.starts_with("MAIL FROM:") {
            current = Received {
                mail_from: address_of(&command),
                ..Received::default()
            };
            say(&mut write, "250 2.1.0 Ok\r\n").await;
        } else if upper.starts_with("RCPT TO:") {
            let scripted = {
                let mut s = state.lock().expect("lock");
                s.rcpt_attempts += 1;
                s.script.pop_front()
            };
            match scripted {
                Some(reply) => say(&mut write, &format!("{reply}\r\n")).await,
                None => {
                    current.rcpt_to.push(address_of(&command));
                    say(&mut write, "250 2.1.5 Ok\r\n").await;
                }
            }
        } else if upper == "DATA" {
            say(&mut write, "354 End data with <CR><LF>.<CR><LF>\r\n").await;
            let mut data = Vec::new();
            loop {
                let mut l = String::new();
                match lines.read_line(&mut l).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                // Undo dot-stuffing (RFC 5321 4.5.2).
                let l = l.strip_prefix('.').unwrap_or(&l);
                data.extend_from_slice(l.as_bytes());
            }
            current.data = data;
            state.lock().expect("lock").mails.push(current.clone());
            say(&mut write, "250 2.0.0 Ok: queued as 4F2A1C0D9E\r\n").await;
        } else if upper == "RSET" || upper == "NOOP" {
            say(&mut write, "250 2.0.0 Ok\r\n").await;
        } else if upper == "QUIT" {
            say(&mut write, "221 2.0.0 Bye\r\n").await;
            return;
        } else {
            say(&mut write, "502 5.5.2 Error: command not recognized\r\n").await;
        }
    }
}

async fn say(w: &mut tokio::net::tcp::OwnedWriteHalf, line: &str) {
    let _ = w.write_all(line.as_bytes()).await;
}

fn address_of(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(a, _)| a.to_owned())
        .unwrap_or_default()
}

// ---- the app --------------------------------------------------------------------------------

/// The app with e-mail configured; `background` runs the outbox sender, else tests drain it.
async fn app(smtp: &Smtp, background: bool) -> TestApp {
    app_on(Backend::Sqlite, smtp, background)
        .await
        .expect("app")
}

/// `None` when the backend is PostgreSQL and none is reachable outside CI.
async fn app_on(backend: Backend, smtp: &Smtp, background: bool) -> Option<TestApp> {
    let url = smtp.url();
    TestApp::spawn_with(backend, move |c| {
        c.secrets.email_webhook_secret = Some(Secret::new(SIGNING_KEY));
        c.secrets.smtp_url = Some(Secret::new(url));
        c.secrets.identity_secret = Some(Secret::new("site-secret"));
        c.email.from = Some(FROM.into());
        c.email.timeout_secs = 5;
        c.outbox.senders = if background { 1 } else { 0 };
        c.outbox.base_delay_ms = 100;
        c.outbox.max_attempts = 3;
        c.outbox.poll_interval_ms = 20;
    })
    .await
}

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

fn fixture(name: &str, our_id: Option<&str>) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/email")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    let text = match our_id {
        Some(id) => text.replace("{{OUR_ID}}", id),
        None => text,
    };
    // Mail travels with CRLF line ends.
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// The signed fields of one Mailgun POST; the same values make a retry of the same POST.
struct Signed {
    timestamp: String,
    token: String,
    signature: String,
}

fn signed_now(key: &str) -> Signed {
    static N: AtomicU64 = AtomicU64::new(0);
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let token = format!(
        "{:025}{:025}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let signature = mailgun::sign(key, &timestamp, &token);
    Signed {
        timestamp,
        token,
        signature,
    }
}

/// POSTs a raw mail as a Mailgun route forwarding to a `…/mime` URL does.
async fn post_mail(app: &TestApp, raw: &str, signed: &Signed) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("recipient", "support@acme.test")
        .text("sender", "ana.silva@example.com")
        .text("from", "Ana Silva <ana.silva@example.com>")
        .text("timestamp", signed.timestamp.clone())
        .text("token", signed.token.clone())
        .text("signature", signed.signature.clone())
        .part(
            "body-mime",
            reqwest::multipart::Part::bytes(raw.as_bytes().to_vec())
                .mime_str("message/rfc822")
                .expect("mime type"),
        );
    app.client
        .post(app.url("/webhooks/email/mailgun/mime"))
        .multipart(form)
        .send()
        .await
        .expect("sent")
}

async fn stored(app: &TestApp, provider_id: &str) -> Option<TimelineMessage> {
    app.app
        .store
        .message_by_provider_id(WS, Channel::Email, provider_id)
        .await
        .expect("query")
}

/// Waits for the bot's answer in a conversation (the reply job runs in the background).
async fn bot_message(app: &TestApp, conversation: i64, after: i64) -> TimelineMessage {
    for _ in 0..400 {
        let messages = app
            .app
            .store
            .conversation_messages(WS, ConversationId(conversation))
            .await
            .expect("messages");
        if let Some(m) = messages
            .into_iter()
            .find(|m| m.id > after && m.author == "bot")
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the bot did not answer in conversation {conversation}");
}

/// Delivers everything the outbox holds, waiting out retries; returns every outcome.
async fn deliver_all(app: &TestApp) -> Vec<Outcome> {
    let mut all = Vec::new();
    for _ in 0..100 {
        let outcomes = app.app.outbox.drain().await.expect("drain");
        let retrying = outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Retrying { .. }));
        all.extend(outcomes);
        let pending = app.app.store.outbox_counts().await.expect("counts").pending;
        if !retrying && pending == 0 {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox did not settle: {all:?}");
}

fn header<'a>(mail: &'a mail_parser::Message<'a>, name: &'static str) -> String {
    mail.header_raw(name)
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---- the tests ------------------------------------------------------------------------------

#[tokio::test]
async fn a_signed_mail_is_answered_by_mail_on_the_same_thread_and_the_customers_reply_joins_it_on_sqlite()
 {
    a_signed_mail_is_answered_by_mail_on_the_same_thread_and_the_customers_reply_joins_it(
        Backend::Sqlite,
    )
    .await;
}

#[tokio::test]
async fn a_signed_mail_is_answered_by_mail_on_the_same_thread_and_the_customers_reply_joins_it_on_postgres()
 {
    a_signed_mail_is_answered_by_mail_on_the_same_thread_and_the_customers_reply_joins_it(
        Backend::Postgres,
    )
    .await;
}

async fn a_signed_mail_is_answered_by_mail_on_the_same_thread_and_the_customers_reply_joins_it(
    backend: Backend,
) {
    let smtp = Smtp::start().await;
    let Some(app) = app_on(backend, &smtp, true).await else {
        return;
    };
    app.with_faq_snippets().await;

    let resp = post_mail(&app, &fixture("first.eml", None), &signed_now(SIGNING_KEY)).await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let first = stored(&app, FIRST_ID).await.expect("the mail is stored");
    assert_eq!(first.author, "customer");
    assert!(
        first.text.contains("How can I reset my password?"),
        "{}",
        first.text
    );
    assert!(
        first.text.contains("[attachment] reset-error.png"),
        "{}",
        first.text
    );
    assert!(
        !first.text.contains("+44 20 7946 0000"),
        "the signature is stripped: {}",
        first.text
    );
    let conversation = app
        .app
        .store
        .conversation(WS, ConversationId(first.conversation_id))
        .await
        .expect("conversation");
    assert_eq!(conversation.channel, "email");
    let contact = app
        .app
        .store
        .contact(WS, ContactId(first.contact_id))
        .await
        .expect("contact");
    assert_eq!(contact.email.as_deref(), Some("ana.silva@example.com"));
    assert_eq!(contact.name.as_deref(), Some("Ana Silva"));

    // The answer goes out by mail, threaded under the customer's.
    let mails = smtp.wait_for(1).await;
    let sent = &mails[0];
    assert_eq!(sent.mail_from, "support@acme.test");
    assert_eq!(sent.rcpt_to, ["ana.silva@example.com"]);
    let mail = MessageParser::default()
        .parse(&sent.data)
        .expect("a mail was sent");
    assert_eq!(
        mail.subject(),
        Some("Re: Password reset – the link doesn’t work")
    );
    let to = mail.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some("ana.silva@example.com"));
    let from = mail.from().and_then(|a| a.first()).expect("From");
    assert_eq!(
        (from.name(), from.address()),
        (Some("Acme Support"), Some("support@acme.test"))
    );
    assert_eq!(header(&mail, "In-Reply-To"), format!("<{FIRST_ID}>"));
    assert_eq!(header(&mail, "References"), format!("<{FIRST_ID}>"));
    assert_eq!(header(&mail, "Auto-Submitted"), "auto-replied");
    assert!(
        mail.content_type()
            .is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some("plain")),
        "a text/plain mail"
    );
    let text = mail.body_text(0).expect("a text part");
    assert!(text.contains("Forgot password link"), "{text}");
    let our_id = mail.message_id().expect("Message-ID").to_owned();
    let bot = bot_message(&app, first.conversation_id, first.id).await;
    assert_eq!(our_id, format!("rapport.1.{}@acme.test", bot.id));
    // The outbox recorded the Message-ID: the customer's answer will find the conversation.
    for _ in 0..100 {
        if stored(&app, &our_id).await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ours = stored(&app, &our_id)
        .await
        .expect("our mail is known by its id");
    assert_eq!(ours.id, bot.id);
    assert_eq!(ours.delivery_status.as_deref(), Some("sent"));

    // Another e-mail conversation of hers is newer: by the usual rule a new mail would go
    // there; a reply to our mail goes where our mail is.
    let other = app
        .app
        .store
        .open_conversation(WS, ContactId(first.contact_id), Channel::Email, false)
        .await
        .expect("another conversation");
    let resp = post_mail(
        &app,
        &fixture("reply.eml", Some(&our_id)),
        &signed_now(SIGNING_KEY),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let reply = stored(&app, REPLY_ID).await.expect("the reply is stored");
    assert_eq!(reply.conversation_id, first.conversation_id);
    assert_ne!(reply.conversation_id, other.0);
    assert_eq!(
        reply.text, "Found it, thanks. How long does the reset email take to arrive?",
        "only the new text is kept"
    );

    // The second answer continues the thread.
    let mails = smtp.wait_for(2).await;
    let mail = MessageParser::default()
        .parse(&mails[1].data)
        .expect("a second mail");
    assert_eq!(
        mail.subject(),
        Some("Re: Password reset – the link doesn’t work"),
        "no double Re:"
    );
    assert_eq!(header(&mail, "In-Reply-To"), format!("<{REPLY_ID}>"));
    assert_eq!(
        header(&mail, "References"),
        format!("<{FIRST_ID}> <{our_id}> <{REPLY_ID}>")
    );
    let text = mail.body_text(0).expect("a text part");
    assert!(text.contains("5 minutes"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_forged_missing_or_stale_signature_is_refused_and_nothing_is_stored() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    let raw = fixture("first.eml", None);

    let forged = signed_now("not-the-signing-key");
    let resp = post_mail(&app, &raw, &forged).await;
    assert_eq!(resp.status(), 401);
    let error = body(resp).await;
    assert_eq!(error["error"]["code"], "unauthorized", "{error}");

    let unsigned = app
        .client
        .post(app.url("/webhooks/email/mailgun/mime"))
        .multipart(reqwest::multipart::Form::new().text("body-mime", raw.clone()))
        .send()
        .await
        .expect("sent");
    assert_eq!(unsigned.status(), 401);

    let old = (chrono::Utc::now() - chrono::Duration::hours(1))
        .timestamp()
        .to_string();
    let stale = Signed {
        signature: mailgun::sign(SIGNING_KEY, &old, "token-1"),
        timestamp: old,
        token: "token-1".into(),
    };
    assert_eq!(post_mail(&app, &raw, &stale).await.status(), 401);

    // A genuine token reused for another mail is a replay.
    let genuine = signed_now(SIGNING_KEY);
    let other = raw.replace(FIRST_ID, "another@mail.example.com");
    assert_eq!(post_mail(&app, &raw, &genuine).await.status(), 200);
    assert_eq!(post_mail(&app, &other, &genuine).await.status(), 401);
    assert!(stored(&app, "another@mail.example.com").await.is_none());
    assert!(stored(&app, FIRST_ID).await.is_some(), "the genuine one is");
    app.stop().await;
}

#[tokio::test]
async fn the_same_post_twice_is_one_message_and_one_reply() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, true).await;
    app.with_faq_snippets().await;
    let raw = fixture("first.eml", None);
    let signed = signed_now(SIGNING_KEY);
    assert_eq!(post_mail(&app, &raw, &signed).await.status(), 200);
    // Mailgun's retry, and the same mail posted again later.
    assert_eq!(post_mail(&app, &raw, &signed).await.status(), 200);
    assert_eq!(
        post_mail(&app, &raw, &signed_now(SIGNING_KEY))
            .await
            .status(),
        200
    );
    smtp.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.mails().len(), 1, "one reply");
    let first = stored(&app, FIRST_ID).await.expect("stored");
    let messages = app
        .app
        .store
        .conversation_messages(WS, ConversationId(first.conversation_id))
        .await
        .expect("messages");
    let authors: Vec<&str> = messages.iter().map(|m| m.author.as_str()).collect();
    assert_eq!(authors, ["customer", "bot"]);
    app.stop().await;
}

#[tokio::test]
async fn a_deferred_mail_is_retried_and_delivered_once() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    app.with_faq_snippets().await;
    smtp.answer_next_recipient("451 4.7.1 <ana.silva@example.com>: Recipient address rejected: Greylisted, try again in a moment");
    assert_eq!(
        post_mail(&app, &fixture("first.eml", None), &signed_now(SIGNING_KEY))
            .await
            .status(),
        200
    );
    let first = stored(&app, FIRST_ID).await.expect("stored");
    let bot = bot_message(&app, first.conversation_id, first.id).await;
    let outcomes = deliver_all(&app).await;
    assert!(
        matches!(&outcomes[0], Outcome::Retrying { reason, .. } if reason.contains("451") && reason.contains("Greylisted")),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes.last(), Some(Outcome::Sent { message_id, .. }) if *message_id == bot.id),
        "{outcomes:?}"
    );
    assert_eq!(smtp.rcpt_attempts(), 2);
    assert_eq!(smtp.mails().len(), 1, "delivered once");
    let bot = app.app.store.message(WS, bot.id.into()).await.expect("bot");
    assert_eq!(bot.delivery_status.as_deref(), Some("sent"));
    app.stop().await;
}

#[tokio::test]
async fn a_refused_mail_fails_with_the_servers_reason() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    app.with_faq_snippets().await;
    smtp.answer_next_recipient(
        "550 5.1.1 <ana.silva@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
    );
    assert_eq!(
        post_mail(&app, &fixture("first.eml", None), &signed_now(SIGNING_KEY))
            .await
            .status(),
        200
    );
    let first = stored(&app, FIRST_ID).await.expect("stored");
    let bot = bot_message(&app, first.conversation_id, first.id).await;
    let outcomes = deliver_all(&app).await;
    assert_eq!(
        outcomes.len(),
        1,
        "no retry of a permanent refusal: {outcomes:?}"
    );
    let Outcome::Failed { message_id, reason } = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(*message_id, bot.id);
    assert!(
        reason.contains("550") && reason.contains("User unknown"),
        "{reason}"
    );
    let bot = app.app.store.message(WS, bot.id.into()).await.expect("bot");
    assert_eq!(bot.delivery_status.as_deref(), Some("failed"));
    // Agents see why, in the server's own words.
    let error = bot.delivery_error.unwrap_or_default();
    assert!(error.contains("550"), "{error}");
    assert!(
        error.contains("User unknown in virtual mailbox table"),
        "{error}"
    );
    assert!(smtp.mails().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_web_customer_signed_with_the_same_address_is_one_contact_with_one_timeline() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    app.with_faq_snippets().await;
    let signed = SignedIdentity::sign(
        "site-secret",
        Some("u-ana"),
        Some("ana.silva@example.com"),
        None,
    );
    let resp = app
        .client
        .post(app.url("/api/v1/messages"))
        .json(&json!({"channel": "web", "sender": {"signed": signed},
                      "text": "What are your opening hours?"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), 202);
    let web_contact = body(resp).await["contact_id"].as_i64().expect("contact");

    // The mail's From is spelled with capitals: the same address.
    assert_eq!(
        post_mail(&app, &fixture("first.eml", None), &signed_now(SIGNING_KEY))
            .await
            .status(),
        200
    );
    let mail = stored(&app, FIRST_ID).await.expect("stored");
    let mail_contact = app
        .app
        .store
        .root_contact(WS, ContactId(mail.contact_id))
        .await
        .expect("root");
    assert_eq!(mail_contact.0, web_contact);
    let timeline = body(
        app.get(&format!("/api/v1/contacts/{web_contact}/timeline"))
            .await,
    )
    .await;
    let channels: Vec<&str> = timeline["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["author"] == "customer")
        .map(|m| m["channel"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(channels, ["web", "email"], "{timeline}");
    app.stop().await;
}

#[tokio::test]
async fn an_out_of_office_reply_is_kept_but_never_answered() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, true).await;
    let raw = fixture("out-of-office.eml", Some("rapport.1.999@acme.test"));
    assert_eq!(
        post_mail(&app, &raw, &signed_now(SIGNING_KEY))
            .await
            .status(),
        200
    );
    let ooo = stored(&app, "ooo-7781@mail.example.com")
        .await
        .expect("kept for agents");
    assert!(ooo.text.contains("out of the office"), "{}", ooo.text);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let messages = app
        .app
        .store
        .conversation_messages(WS, ConversationId(ooo.conversation_id))
        .await
        .expect("messages");
    assert_eq!(messages.len(), 1, "no answer to a robot");
    assert!(smtp.mails().is_empty());
    app.stop().await;
}

/// Streams a multipart post with `fields` first and then a `body-mime` of `megabytes`, chunked
/// (no Content-Length), as an attacker would; the status the server answers, which may come
/// before the body is all sent.
async fn chunked_mail_post(app: &TestApp, fields: &[(&str, String)], megabytes: usize) -> u16 {
    let address = app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let (read, mut write) = stream.into_split();
    let mut head = format!(
        "POST /webhooks/email/mailgun/mime HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let mut parts = String::new();
    for (name, value) in fields {
        parts.push_str(&format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    parts.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"body-mime\"\r\n\r\n");
    head.extend(format!("{:x}\r\n{parts}\r\n", parts.len()).into_bytes());
    let sender = tokio::spawn(async move {
        write.write_all(&head).await?;
        let chunk = vec![b'a'; 64 * 1024];
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend(&chunk);
        framed.extend(b"\r\n");
        for _ in 0..megabytes * 16 {
            write.write_all(&framed).await?;
        }
        write.write_all(b"0\r\n\r\n").await
    });
    let mut status_line = String::new();
    BufReader::new(read)
        .read_line(&mut status_line)
        .await
        .expect("a status line");
    sender.abort();
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Found by a hostile run: unsigned posts were read whole before their signature was checked,
/// and a 100 MB chunked post got a 500. A forged signature sent before the mail is refused
/// before the mail is read; an unsigned or oversized one is a 413, however it is sent.
#[tokio::test]
async fn a_forged_or_oversized_mail_post_is_refused_before_it_is_read() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    let forged = signed_now("not-the-signing-key");
    let fields = [
        ("timestamp", forged.timestamp.clone()),
        ("token", forged.token.clone()),
        ("signature", forged.signature.clone()),
    ];
    assert_eq!(chunked_mail_post(&app, &fields, 100).await, 401);
    assert_eq!(chunked_mail_post(&app, &[], 100).await, 413);
    // The server is still well.
    let resp = post_mail(&app, "this is not a mail\r\n", &signed_now(SIGNING_KEY)).await;
    assert_eq!(resp.status(), 406);
    app.stop().await;
}

#[tokio::test]
async fn a_post_that_is_not_a_mail_is_rejected_without_retries() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    let resp = post_mail(&app, "this is not a mail\r\n", &signed_now(SIGNING_KEY)).await;
    // 406: Mailgun's "rejected, do not retry".
    assert_eq!(resp.status(), 406);
    assert_eq!(body(resp).await["error"]["code"], "not_acceptable");
    app.stop().await;
}

#[tokio::test]
async fn a_mail_larger_than_the_api_body_limit_is_accepted_on_its_own_limit() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    assert!(app.app.config.http.body_limit < 3 * 1024 * 1024);
    // A 3 MiB scan, base64 in 76-character lines as mail clients write it.
    let encoded: String = "QUJD".repeat(3 * 1024 * 1024 / 3);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect();
    let raw = format!(
        "From: Ana Silva <ana.silva@example.com>\r\nTo: support@acme.test\r\nSubject: Invoice scan\r\n\
         Message-ID: <big-1@mail.example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHere is the scan of my invoice.\r\n--b\r\n\
         Content-Type: application/pdf; name=\"invoice.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    );
    let resp = post_mail(&app, &raw, &signed_now(SIGNING_KEY)).await;
    assert_eq!(resp.status(), 200);
    let stored = stored(&app, "big-1@mail.example.com")
        .await
        .expect("stored");
    assert!(
        stored.text.ends_with("[attachment] invoice.pdf"),
        "{}",
        stored.text
    );
    app.stop().await;
}

#[tokio::test]
async fn a_reply_while_a_person_owns_the_customers_conversation_goes_to_that_person() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    app.with_faq_snippets().await;
    let resp = post_mail(&app, &fixture("first.eml", None), &signed_now(SIGNING_KEY)).await;
    assert_eq!(resp.status(), 200);
    let first = stored(&app, FIRST_ID).await.expect("stored");
    let bot = bot_message(&app, first.conversation_id, first.id).await;
    deliver_all(&app).await;
    let our_id = rapport_channels::email::message_id_for(1, bot.id, "acme.test");
    assert!(stored(&app, &our_id).await.is_some());

    // Meanwhile she was handed to a person on the web chat.
    let store = &app.app.store;
    let escalated = store
        .open_conversation(WS, ContactId(first.contact_id), Channel::Web, false)
        .await
        .expect("conversation");
    store
        .set_conversation_status(WS, escalated, ConversationStatus::Human)
        .await
        .expect("a person owns it");
    let resp = post_mail(
        &app,
        &fixture("reply.eml", Some(&our_id)),
        &signed_now(SIGNING_KEY),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let reply = stored(&app, REPLY_ID).await.expect("stored");
    assert_eq!(reply.conversation_id, escalated.0, "the person sees it");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // The bot does not answer beside the person; it only tells her, once, that the team has it.
    for conversation in [first.conversation_id, escalated.0] {
        let bots: Vec<_> = store
            .conversation_messages(WS, ConversationId(conversation))
            .await
            .expect("messages")
            .into_iter()
            .filter(|m| m.author == "bot" && m.id > reply.id)
            .collect();
        assert!(bots.len() <= 1, "at most one holding reply");
        for m in &bots {
            assert_eq!(m.metadata["trace"]["decision"], "held", "{}", m.text);
            assert!(m.text.contains("with our team"), "{}", m.text);
        }
    }
    app.stop().await;
}

/// Issue 18: an agent given a conversation while offline would not see the bell, so they get
/// an e-mail through the outbox, noted on the conversation for colleagues; an online agent
/// gets none.
#[tokio::test]
async fn an_agent_given_a_conversation_while_offline_gets_an_email() {
    let smtp = Smtp::start().await;
    let app = app(&smtp, false).await;
    let (_, dee) = app
        .client_for_new_user("dee@acme.test", "Dee", rapport_core::domain::Role::Agent)
        .await;
    let (eli_client, eli) = app
        .client_for_new_user("eli@acme.test", "Eli", rapport_core::domain::Role::Agent)
        .await;
    let online = eli_client
        .post(app.url("/api/v1/presence"))
        .json(&json!({"status": "online", "active": true}))
        .send()
        .await
        .expect("sent");
    assert_eq!(online.status(), 200);
    let mut escalations = Vec::new();
    for customer in ["kim", "lou"] {
        let accepted: Value = body(
            app.client
                .post(app.url("/api/v1/messages"))
                .json(&json!({"sender": {"external_id": customer}, "text": "I want to talk to a human"}))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        let conversation = &accepted["conversation_id"];
        let mut escalation = Value::Null;
        for _ in 0..300 {
            let view = body(
                app.get(&format!("/api/v1/conversations/{conversation}"))
                    .await,
            )
            .await;
            if view["open_escalation"].is_object() {
                escalation = view["open_escalation"]["id"].clone();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(escalation.is_i64(), "{customer} was handed over");
        escalations.push(escalation);
    }
    for (escalation, user) in escalations.iter().zip([dee, eli]) {
        let resp = app
            .client
            .post(app.url(&format!("/api/v1/escalations/{escalation}/assign")))
            .json(&json!({"user_id": user}))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), 200);
    }
    deliver_all(&app).await;
    let mails = smtp.mails();
    let to_agents: Vec<&Received> = mails
        .iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r.contains("@acme.test")))
        .collect();
    assert_eq!(to_agents.len(), 1, "only offline Dee is e-mailed");
    assert_eq!(to_agents[0].rcpt_to, ["dee@acme.test"]);
    let parsed = MessageParser::default()
        .parse(&to_agents[0].data)
        .expect("a mail");
    assert!(
        parsed
            .subject()
            .unwrap_or_default()
            .starts_with("Assigned to you"),
        "{:?}",
        parsed.subject()
    );
    assert!(
        parsed
            .body_text(0)
            .unwrap_or_default()
            .contains("/app/inbox"),
        "{:?}",
        parsed.body_text(0)
    );
    app.stop().await;
}
