//! The one typed configuration: a TOML file overlaid by `RAPPORT_*` environment variables.
//! Secrets (database passwords, API keys, webhook secrets) are read from the environment only,
//! so a config file can be committed or shared without leaking them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`RAPPORT_BIND`).
    pub bind: IpAddr,
    /// Port to listen on (`RAPPORT_PORT`).
    pub port: u16,
    /// Holds the SQLite file, the vector index and, by default, the models (`RAPPORT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Where `scripts/fetch-models` put the models (`RAPPORT_MODEL_DIR`); default `<data_dir>/models`.
    pub model_dir: Option<PathBuf>,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub embedder: EmbedderConfig,
    pub jobs: JobsConfig,
    pub knowledge: KnowledgeConfig,
    pub index: IndexConfig,
    pub agent: AgentConfig,
    pub llm: LlmConfig,
    pub outbox: OutboxConfig,
    pub graph: GraphConfig,
    pub whatsapp: WhatsappConfig,
    pub instagram: InstagramConfig,
    pub api_channel: ApiChannelConfig,
    pub auth: AuthConfig,
    pub email: EmailConfig,
    pub widget: WidgetConfig,
    pub analytics: AnalyticsConfig,
    pub inbox: InboxConfig,
    pub retention: RetentionConfig,
    /// Read from the environment only; never serialised in clear.
    #[serde(skip_deserializing, serialize_with = "Secrets::serialize_masked")]
    pub secrets: Secrets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json` (`RAPPORT_LOG_FORMAT`).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `rapport=debug,sqlx=warn` (`RAPPORT_LOG`).
    pub filter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body in bytes (`RAPPORT_BODY_LIMIT`).
    pub body_limit: usize,
    /// A request that takes longer is answered 408 (`RAPPORT_REQUEST_TIMEOUT_SECS`).
    pub request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests and jobs.
    pub shutdown_grace_secs: u64,
    /// A client that has not sent a whole request head by then is cut (slowloris); also how
    /// long an idle keep-alive connection is kept.
    pub header_read_timeout_secs: u64,
    /// Most connections open at once (never more than the file limit allows).
    pub max_connections: usize,
    /// Inbound messages (webhooks, the API channel) handled at once; past it the answer is
    /// 503 with Retry-After, which providers retry, rather than a queue without bound.
    pub max_inflight_messages: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Pool size (`RAPPORT_DB_MAX_CONNECTIONS`). The URL itself is a secret: `DATABASE_URL`.
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedderConfig {
    /// Texts per inference call (`RAPPORT_EMBED_BATCH_SIZE`).
    pub batch_size: usize,
    /// ONNX Runtime threads (`RAPPORT_EMBED_THREADS`); default: cores, at most 4.
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Background jobs run at once by this process (`RAPPORT_JOB_WORKERS`).
    pub workers: usize,
    /// Of those, workers kept for replies: they never take a knowledge sync, so a customer
    /// is answered whatever is being ingested (at least one worker takes any job).
    pub reply_workers: usize,
    pub poll_interval_ms: u64,
    pub lease_secs: u64,
    pub max_attempts: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexConfig {
    /// A Qdrant server or cluster (gRPC, e.g. `http://qdrant:6334`) instead of the embedded
    /// Qdrant Edge (`QDRANT_URL` or `RAPPORT_QDRANT_URL`).
    pub qdrant_url: Option<String>,
    /// Collection on that server; created on first use.
    pub qdrant_collection: String,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            qdrant_url: None,
            qdrant_collection: "rapport_chunks".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Lets the web crawler fetch loopback, private and link-local addresses
    /// (`RAPPORT_CRAWL_ALLOW_PRIVATE`). Off by default: an admin's URL must not reach the
    /// server's own network.
    pub allow_private_addresses: bool,
    /// The one server folder whose files admins may name as an articles source or a
    /// conversation import over the API (`RAPPORT_KNOWLEDGE_DIR`). Unset: none; the CLI's
    /// `rapport ingest` reads any folder the operator gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_folder: Option<PathBuf>,
    /// Largest file upload in bytes (`RAPPORT_MAX_UPLOAD_BYTES`).
    pub max_upload_bytes: usize,
    /// Chunks embedded and indexed together during ingestion.
    pub index_batch: usize,
    /// Largest chunk, in approximate model tokens; the minimum and the overlap scale with it.
    pub chunk_max_tokens: usize,
    /// How hybrid search fuses dense and sparse rankings, e.g.
    /// `{method = "convex", alpha = 0.6}` or `{method = "rrf", k = 60, dense_weight = 0.5}`.
    pub fusion: rapport_knowledge::fusion::Fusion,
    /// Weight of the question–title match in hybrid search (0 turns it off).
    pub title_weight: f32,
    /// Weight of the word-by-word (late-interaction) match of the question with each candidate
    /// chunk in hybrid search (0 turns it off).
    pub token_weight: f32,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            allow_private_addresses: false,
            server_folder: None,
            max_upload_bytes: 25 * 1024 * 1024,
            index_batch: 256,
            chunk_max_tokens: rapport_knowledge::chunk::ChunkSizes::default().max_tokens,
            fusion: rapport_knowledge::fusion::Fusion::default(),
            title_weight: 0.3,
            token_weight: 0.8,
        }
    }
}

/// How the bot answers and when it hands over.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub bot_name: String,
    pub business_name: String,
    /// Question–chunk similarity the best cited chunk must reach for the bot to answer
    /// (`RAPPORT_SUPPORT_THRESHOLD`).
    pub support_threshold: f32,
    /// Hand an unanswerable question to a human at once (else after `max_unhelpful_replies`).
    pub escalate_when_unsure: bool,
    pub max_unhelpful_replies: u32,
    /// Topics people handle: `[[agent.handoff_topics]] name = "refunds", keywords = ["refund"]`.
    pub handoff_topics: Vec<rapport_agent::guards::HandoffTopic>,
    /// Token budget of the customer's history in the answer's context.
    pub context_tokens: usize,
    pub retrieval_limit: usize,
    /// Region for phone numbers written without a country code (`RAPPORT_DEFAULT_REGION`).
    pub default_region: String,
    /// A new message after this many hours of silence opens a new conversation.
    pub conversation_idle_hours: i64,
    /// Memory is refreshed once a conversation has been quiet this many minutes.
    pub memory_quiet_minutes: i64,
    /// Directory of prompt files overriding the built-in ones (`RAPPORT_PROMPTS_DIR`).
    pub prompts_dir: Option<PathBuf>,
    /// While a person has the conversation, tell a customer who writes that the team has it.
    pub holding_replies: bool,
    /// No holding reply when a person wrote to the customer within this many minutes.
    pub agent_active_minutes: i64,
    /// At most one holding reply per channel within this many minutes.
    pub holding_quiet_minutes: i64,
    /// A right one-time code proves the customer to actions for this many hours.
    pub verified_hours: i64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        let d = rapport_agent::AgentSettings::default();
        Self {
            bot_name: d.persona.bot_name,
            business_name: d.persona.business_name,
            support_threshold: d.support_threshold,
            escalate_when_unsure: d.escalate_when_unsure,
            max_unhelpful_replies: d.max_unhelpful_replies,
            handoff_topics: d.handoff_topics,
            context_tokens: d.context_tokens,
            retrieval_limit: d.retrieval_limit,
            default_region: d.default_region,
            conversation_idle_hours: d.conversation_idle.num_hours(),
            memory_quiet_minutes: d.memory_quiet.num_minutes(),
            prompts_dir: None,
            holding_replies: d.holding_replies,
            agent_active_minutes: d.agent_active.num_minutes(),
            holding_quiet_minutes: d.holding_quiet.num_minutes(),
            verified_hours: d.verified_for.num_hours(),
        }
    }
}

/// The language model, when one is configured; without a model the extractive one answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// OpenAI-compatible API root (`RAPPORT_LLM_BASE_URL`), e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// Model name (`RAPPORT_LLM_MODEL`). Setting it switches from the extractive model.
    pub model: Option<String>,
    pub timeout_secs: u64,
    pub max_attempts: u32,
    /// Longest one model call may take, retries included; past it (or on any model error)
    /// the extractive model answers that call.
    pub deadline_secs: u64,
    /// After a failure, how long the model is skipped (the extractive model answers).
    pub cool_down_secs: u64,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            model: None,
            timeout_secs: 30,
            max_attempts: 3,
            deadline_secs: 45,
            cool_down_secs: 30,
            temperature: Some(0.2),
            max_tokens: Some(700),
        }
    }
}

/// How outbound messages are delivered (see `rapport_channels::outbox`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Deliveries in flight at once in this process (`RAPPORT_OUTBOX_SENDERS`); 0 sends nothing.
    pub senders: usize,
    /// Tries before a message is marked failed, or…
    pub max_attempts: i32,
    /// …hours after it was written, whichever comes first (`RAPPORT_OUTBOX_GIVE_UP_HOURS`).
    pub give_up_after_hours: f64,
    /// Delay before the second try, doubling after each failure up to `max_delay_secs`.
    pub base_delay_ms: u64,
    pub max_delay_secs: u64,
    pub poll_interval_ms: u64,
    /// Most sends per second per channel, e.g. `{ whatsapp = 80.0, email = 5.0 }`.
    pub rate_per_second: std::collections::BTreeMap<rapport_core::domain::Channel, f64>,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        let d = rapport_channels::outbox::OutboxSettings::default();
        Self {
            senders: d.concurrency,
            max_attempts: d.max_attempts,
            give_up_after_hours: d.give_up_after.as_secs_f64() / 3600.0,
            base_delay_ms: d.base_delay.as_millis() as u64,
            max_delay_secs: d.max_delay.as_secs(),
            poll_interval_ms: d.poll_interval.as_millis() as u64,
            rate_per_second: d.rate_per_second.into_iter().collect(),
        }
    }
}

/// Meta's Graph API, which WhatsApp and Instagram replies are sent through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphConfig {
    /// API root (`RAPPORT_GRAPH_BASE_URL`); tests point it at a local server.
    pub base_url: String,
    pub version: String,
    pub timeout_secs: u64,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            base_url: rapport_channels::graph::GRAPH_BASE_URL.into(),
            version: rapport_channels::graph::GRAPH_VERSION.into(),
            timeout_secs: 15,
        }
    }
}

/// WhatsApp Cloud API sending. The credentials come from the environment:
/// `RAPPORT_WHATSAPP_ACCESS_TOKEN` and `RAPPORT_WHATSAPP_PHONE_NUMBER_ID`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhatsappConfig {
    /// Approved template sent instead of a free-form message outside the 24-hour window
    /// (`RAPPORT_WHATSAPP_TEMPLATE`); without one such messages are marked undeliverable.
    pub template: Option<String>,
    /// The template's language code (`RAPPORT_WHATSAPP_TEMPLATE_LANGUAGE`).
    pub template_language: String,
    /// Whether the template's body has one `{{1}}` parameter that takes the message text.
    pub template_takes_text: bool,
    /// Largest media file an agent may open through Rapport.
    pub max_media_bytes: usize,
}

impl Default for WhatsappConfig {
    fn default() -> Self {
        Self {
            template: None,
            template_language: "en_US".into(),
            template_takes_text: true,
            max_media_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Instagram Messaging sending; the token is `RAPPORT_INSTAGRAM_ACCESS_TOKEN`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstagramConfig {
    /// The professional account (or Page) id replies are sent from
    /// (`RAPPORT_INSTAGRAM_ACCOUNT_ID`); `me` lets the token decide.
    pub account_id: String,
}

impl Default for InstagramConfig {
    fn default() -> Self {
        Self {
            account_id: "me".into(),
        }
    }
}

/// How analytics count.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// A customer who comes back (on any channel) within this many hours of a conversation
    /// closing is a repeat contact, and that conversation was not resolved.
    pub repeat_window_hours: i64,
    /// Ask customers to rate a conversation when it is resolved (`RAPPORT_CSAT`).
    pub csat: bool,
    /// The address customers reach Rapport at, for rating links (`RAPPORT_PUBLIC_URL`,
    /// e.g. `https://support.example.com`); default `http://<bind>:<port>`.
    pub public_url: Option<String>,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            repeat_window_hours: 72,
            csat: true,
            public_url: None,
        }
    }
}

/// The agents' workspace: presence and automatic assignment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboxConfig {
    /// An agent whose app sent no heartbeat for this many seconds is offline.
    pub offline_after_secs: i64,
    /// An agent who did nothing for this many minutes is away.
    pub away_after_minutes: i64,
    /// An assignee offline this many minutes longer loses their open conversations back to
    /// the queue (`RAPPORT_REASSIGN_AFTER_MINUTES`).
    pub reassign_after_minutes: i64,
    /// How often each node routes, in milliseconds.
    pub routing_interval_ms: u64,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            offline_after_secs: 90,
            away_after_minutes: 10,
            reassign_after_minutes: 10,
            routing_interval_ms: 2_000,
        }
    }
}

/// How long the store keeps what only grows (see `rapport_store::retention`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Finished jobs are deleted this many days after they were done…
    pub done_jobs_days: i64,
    /// …and dead ones (kept longer, to be looked into) after this many.
    pub dead_jobs_days: i64,
    /// Bot replies keep their full decision trace this many days, then only what analytics
    /// reads (decision, reason, the customer's question).
    pub full_traces_days: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            done_jobs_days: 7,
            dead_jobs_days: 30,
            full_traces_days: 90,
        }
    }
}

/// Signing in to the web app and the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// E-mail of the admin created on first start (`RAPPORT_ADMIN_EMAIL`); its password is
    /// the secret `RAPPORT_ADMIN_PASSWORD`, or a one-time password printed once.
    pub admin_email: Option<String>,
    /// How long a browser stays signed in.
    pub session_hours: u64,
    /// Mark the session cookie `Secure`; by default it is when the request came over TLS
    /// (`X-Forwarded-Proto: https` from the proxy in front).
    pub secure_cookies: Option<bool>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            admin_email: None,
            session_hours: 12,
            secure_cookies: None,
        }
    }
}

/// The REST API channel for custom integrations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiChannelConfig {
    /// Where replies are delivered, signed with `RAPPORT_API_CALLBACK_SECRET`
    /// (`RAPPORT_API_CALLBACK_URL`). Without it the integration reads replies from the API.
    pub callback_url: Option<String>,
    pub timeout_secs: u64,
}

impl Default for ApiChannelConfig {
    fn default() -> Self {
        Self {
            callback_url: None,
            timeout_secs: 10,
        }
    }
}

/// E-mail: inbound mail through a Mailgun route (raw MIME), replies over SMTP. The SMTP URL and
/// the webhook signing key are secrets: `RAPPORT_SMTP_URL`, `RAPPORT_EMAIL_WEBHOOK_SECRET`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// Who replies come from (`RAPPORT_EMAIL_FROM`), e.g. `Acme Support <support@acme.test>`;
    /// required with `RAPPORT_SMTP_URL`. Mail from this address is never answered (a loop).
    pub from: Option<String>,
    /// Subject of a reply in a conversation that has none (one that began on another channel).
    pub default_subject: String,
    /// Time-out of connecting to the SMTP server and of each command.
    pub timeout_secs: u64,
    /// How old a signed inbound request may be before it is taken for a replay.
    pub webhook_max_age_secs: u64,
    /// Largest inbound mail request in bytes, attachments included (`RAPPORT_EMAIL_MAX_BYTES`).
    pub max_bytes: usize,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            from: None,
            default_subject: "Your request".into(),
            timeout_secs: 30,
            webhook_max_age_secs: rapport_channels::email::mailgun::MAX_AGE.num_seconds() as u64,
            // Mailgun takes messages up to 25 MB; the form encoding adds a little.
            max_bytes: 30 * 1024 * 1024,
        }
    }
}

/// The web chat widget (`/widget.js` and `/api/v1/widget/*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WidgetConfig {
    /// Pages allowed to embed the widget, as origins (`https://shop.example`, with a port when
    /// not the default one), or `"*"` for any (`RAPPORT_WIDGET_ALLOWED_ORIGINS`, comma-separated).
    /// Empty: only pages served by Rapport itself.
    pub allowed_origins: Vec<String>,
    /// Messages one visitor may send per minute (`RAPPORT_WIDGET_VISITOR_MESSAGES_PER_MINUTE`).
    pub visitor_messages_per_minute: u32,
    /// Widget API requests one IP address may make per minute
    /// (`RAPPORT_WIDGET_IP_REQUESTS_PER_MINUTE`); offices behind one address share it.
    pub ip_requests_per_minute: u32,
    /// Take the client address from the last `X-Forwarded-For` entry, as a reverse proxy in
    /// front of Rapport appends it (`RAPPORT_WIDGET_TRUST_FORWARDED_FOR`). Only behind a proxy.
    pub trust_forwarded_for: bool,
    /// A session unused this many days is forgotten; the visitor starts a new one.
    pub session_ttl_days: u32,
    /// How often an event stream also checks the database, for replies written by another
    /// Rapport process (replies from this one arrive at once).
    pub poll_interval_ms: u64,
    /// The first thing the widget says, before the visitor writes.
    pub greeting: String,
    /// The widget's accent colour (`#rrggbb`).
    pub color: String,
}

impl Default for WidgetConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            visitor_messages_per_minute: 20,
            ip_requests_per_minute: 300,
            trust_forwarded_for: false,
            session_ttl_days: 30,
            poll_interval_ms: 2_000,
            greeting: "Hi! Ask us anything — we usually answer right away.".into(),
            color: "#2563eb".into(),
        }
    }
}

impl WidgetConfig {
    /// The allowed origins, normalised (`scheme://host[:port]`, lower case); an entry that is
    /// not an origin is an error that names it.
    pub fn origins(&self) -> Result<Vec<String>> {
        self.allowed_origins
            .iter()
            .map(|o| {
                let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
                let host = o
                    .strip_prefix("https://")
                    .or_else(|| o.strip_prefix("http://"));
                let valid = o == "*"
                    || host.is_some_and(|h| {
                        !h.is_empty() && !h.contains(['/', '?', '#', '@', ' '])
                    });
                if valid {
                    Ok(o)
                } else {
                    Err(Error::Config(format!(
                        "widget.allowed_origins: {o:?} is not an origin such as https://shop.example"
                    )))
                }
            })
            .collect()
    }
}

/// A value that must not appear in logs or `config show`.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Secrets, from the environment only.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `DATABASE_URL` (or `RAPPORT_DATABASE_URL`): `postgres://…` switches to PostgreSQL.
    pub database_url: Option<Secret>,
    /// `QDRANT_API_KEY` (or `RAPPORT_QDRANT_API_KEY`), for a Qdrant server that requires one.
    pub qdrant_api_key: Option<Secret>,
    /// `RAPPORT_LLM_API_KEY` (or `OPENAI_API_KEY`).
    pub llm_api_key: Option<Secret>,
    /// `RAPPORT_IDENTITY_SECRET`: the key web-chat identities are signed with.
    pub identity_secret: Option<Secret>,
    /// `RAPPORT_WHATSAPP_VERIFY_TOKEN`: echoed back when Meta verifies the webhook.
    pub whatsapp_verify_token: Option<Secret>,
    /// `RAPPORT_WHATSAPP_APP_SECRET`: the key of the webhook signatures.
    pub whatsapp_app_secret: Option<Secret>,
    /// `RAPPORT_WHATSAPP_ACCESS_TOKEN`: the bearer token replies are sent with.
    pub whatsapp_access_token: Option<Secret>,
    /// `RAPPORT_WHATSAPP_PHONE_NUMBER_ID`: the business number replies are sent from. Not
    /// secret, but it comes with the token, so it is read with it.
    pub whatsapp_phone_number_id: Option<Secret>,
    /// `RAPPORT_INSTAGRAM_VERIFY_TOKEN`: echoed back when Meta verifies the webhook.
    pub instagram_verify_token: Option<Secret>,
    /// `RAPPORT_INSTAGRAM_APP_SECRET`: the key of the webhook signatures.
    pub instagram_app_secret: Option<Secret>,
    /// `RAPPORT_INSTAGRAM_ACCESS_TOKEN`: the token replies are sent with.
    pub instagram_access_token: Option<Secret>,
    /// `RAPPORT_API_CHANNEL_TOKEN`: the bearer token integrations post messages with.
    pub api_channel_token: Option<Secret>,
    /// `RAPPORT_API_CALLBACK_SECRET`: the key reply callbacks are signed with.
    pub api_callback_secret: Option<Secret>,
    /// `RAPPORT_ADMIN_PASSWORD`: the password of the admin created on first start.
    pub admin_password: Option<Secret>,
    /// `RAPPORT_SMTP_URL`: where replies are sent, credentials included
    /// (`smtps://user:pass@smtp.example.com:465`).
    pub smtp_url: Option<Secret>,
    /// `RAPPORT_EMAIL_WEBHOOK_SECRET`: the Mailgun HTTP webhook signing key inbound mail is
    /// signed with.
    pub email_webhook_secret: Option<Secret>,
    /// `RAPPORT_SETTINGS_KEY`: seals the channel secrets admins save on the Settings page.
    pub settings_key: Option<Secret>,
}

impl Secrets {
    const VARS: &'static [(&'static str, &'static [&'static str])] = &[
        ("database_url", &["RAPPORT_DATABASE_URL", "DATABASE_URL"]),
        (
            "qdrant_api_key",
            &["RAPPORT_QDRANT_API_KEY", "QDRANT_API_KEY"],
        ),
        ("llm_api_key", &["RAPPORT_LLM_API_KEY", "OPENAI_API_KEY"]),
        ("identity_secret", &["RAPPORT_IDENTITY_SECRET"]),
        ("whatsapp_verify_token", &["RAPPORT_WHATSAPP_VERIFY_TOKEN"]),
        ("whatsapp_app_secret", &["RAPPORT_WHATSAPP_APP_SECRET"]),
        ("whatsapp_access_token", &["RAPPORT_WHATSAPP_ACCESS_TOKEN"]),
        (
            "whatsapp_phone_number_id",
            &["RAPPORT_WHATSAPP_PHONE_NUMBER_ID"],
        ),
        (
            "instagram_verify_token",
            &["RAPPORT_INSTAGRAM_VERIFY_TOKEN"],
        ),
        ("instagram_app_secret", &["RAPPORT_INSTAGRAM_APP_SECRET"]),
        (
            "instagram_access_token",
            &["RAPPORT_INSTAGRAM_ACCESS_TOKEN"],
        ),
        ("api_channel_token", &["RAPPORT_API_CHANNEL_TOKEN"]),
        ("api_callback_secret", &["RAPPORT_API_CALLBACK_SECRET"]),
        ("admin_password", &["RAPPORT_ADMIN_PASSWORD"]),
        ("smtp_url", &["RAPPORT_SMTP_URL"]),
        ("email_webhook_secret", &["RAPPORT_EMAIL_WEBHOOK_SECRET"]),
        ("settings_key", &["RAPPORT_SETTINGS_KEY"]),
    ];

    fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| env(n))
                .filter(|v| !v.trim().is_empty())
                .map(Secret)
        };
        Secrets {
            database_url: first(Self::VARS[0].1),
            qdrant_api_key: first(Self::VARS[1].1),
            llm_api_key: first(Self::VARS[2].1),
            identity_secret: first(Self::VARS[3].1),
            whatsapp_verify_token: first(Self::VARS[4].1),
            whatsapp_app_secret: first(Self::VARS[5].1),
            whatsapp_access_token: first(Self::VARS[6].1),
            whatsapp_phone_number_id: first(Self::VARS[7].1),
            instagram_verify_token: first(Self::VARS[8].1),
            instagram_app_secret: first(Self::VARS[9].1),
            instagram_access_token: first(Self::VARS[10].1),
            api_channel_token: first(Self::VARS[11].1),
            api_callback_secret: first(Self::VARS[12].1),
            admin_password: first(Self::VARS[13].1),
            smtp_url: first(Self::VARS[14].1),
            email_webhook_secret: first(Self::VARS[15].1),
            settings_key: first(Self::VARS[16].1),
        }
    }

    fn serialize_masked<S: serde::Serializer>(
        secrets: &Secrets,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(Self::VARS.len()))?;
        let shown = secrets
            .database_url
            .as_ref()
            .map(|u| rapport_store::redact_url(u.expose()));
        map.serialize_entry(
            "database_url",
            &shown.unwrap_or_else(|| "(unset: SQLite in data_dir)".into()),
        )?;
        let key = if secrets.qdrant_api_key.is_some() {
            "***"
        } else {
            "(unset)"
        };
        map.serialize_entry("qdrant_api_key", key)?;
        let masked = |s: &Option<Secret>| if s.is_some() { "***" } else { "(unset)" };
        map.serialize_entry("llm_api_key", masked(&secrets.llm_api_key))?;
        map.serialize_entry("identity_secret", masked(&secrets.identity_secret))?;
        map.serialize_entry(
            "whatsapp_verify_token",
            masked(&secrets.whatsapp_verify_token),
        )?;
        map.serialize_entry("whatsapp_app_secret", masked(&secrets.whatsapp_app_secret))?;
        map.serialize_entry(
            "whatsapp_access_token",
            masked(&secrets.whatsapp_access_token),
        )?;
        map.serialize_entry(
            "whatsapp_phone_number_id",
            &secrets
                .whatsapp_phone_number_id
                .as_ref()
                .map_or("(unset)", |s| s.expose()),
        )?;
        for (name, secret) in [
            ("instagram_verify_token", &secrets.instagram_verify_token),
            ("instagram_app_secret", &secrets.instagram_app_secret),
            ("instagram_access_token", &secrets.instagram_access_token),
            ("api_channel_token", &secrets.api_channel_token),
            ("api_callback_secret", &secrets.api_callback_secret),
            ("admin_password", &secrets.admin_password),
        ] {
            map.serialize_entry(name, masked(secret))?;
        }
        // The host is worth seeing; the password is not.
        let smtp = secrets
            .smtp_url
            .as_ref()
            .map(|u| rapport_store::redact_url(u.expose()));
        map.serialize_entry("smtp_url", &smtp.unwrap_or_else(|| "(unset)".into()))?;
        map.serialize_entry(
            "email_webhook_secret",
            masked(&secrets.email_webhook_secret),
        )?;
        map.serialize_entry("settings_key", masked(&secrets.settings_key))?;
        map.end()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            data_dir: PathBuf::from("./.rapport"),
            model_dir: None,
            log: LogConfig::default(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            embedder: EmbedderConfig::default(),
            jobs: JobsConfig::default(),
            knowledge: KnowledgeConfig::default(),
            index: IndexConfig::default(),
            agent: AgentConfig::default(),
            outbox: OutboxConfig::default(),
            graph: GraphConfig::default(),
            whatsapp: WhatsappConfig::default(),
            instagram: InstagramConfig::default(),
            api_channel: ApiChannelConfig::default(),
            auth: AuthConfig::default(),
            analytics: AnalyticsConfig::default(),
            inbox: InboxConfig::default(),
            retention: RetentionConfig::default(),
            email: EmailConfig::default(),
            widget: WidgetConfig::default(),
            llm: LlmConfig::default(),
            secrets: Secrets::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        // Qdrant Edge warns on every start about process-wide flags that only Qdrant's own server
        // sets; they change nothing for an embedded shard.
        Self {
            format: LogFormat::Text,
            filter: "info,qdrant_edge::common=error".into(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 2 * 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
            header_read_timeout_secs: 10,
            max_connections: 4096,
            max_inflight_messages: 256,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { max_connections: 8 }
    }
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            batch_size: 16,
            threads: None,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            reply_workers: 1,
            poll_interval_ms: 1000,
            lease_secs: 60,
            max_attempts: 5,
        }
    }
}

/// The environment variables that override file settings, in the order they are documented.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("RAPPORT_CONFIG", "path of the TOML config file"),
    ("RAPPORT_BIND", "listen address (default 127.0.0.1)"),
    (
        "RAPPORT_LLM_BASE_URL",
        "OpenAI-compatible API root (default https://api.openai.com/v1)",
    ),
    (
        "RAPPORT_LLM_MODEL",
        "model name; setting it replaces the extractive model",
    ),
    (
        "RAPPORT_LLM_API_KEY",
        "secret; API key of that server (also OPENAI_API_KEY)",
    ),
    (
        "RAPPORT_IDENTITY_SECRET",
        "secret; key the site signs web-chat identities with",
    ),
    (
        "RAPPORT_SETTINGS_KEY",
        "secret; seals the channel secrets saved on the Settings page (AES-256-GCM)",
    ),
    (
        "RAPPORT_SUPPORT_THRESHOLD",
        "similarity the best cited chunk must reach to answer (default 0.52)",
    ),
    (
        "RAPPORT_DEFAULT_REGION",
        "region for phone numbers without a country code (default US)",
    ),
    (
        "RAPPORT_PROMPTS_DIR",
        "directory of prompt files overriding the built-in ones",
    ),
    (
        "RAPPORT_OUTBOX_SENDERS",
        "outbound deliveries in flight at once (default 2; 0 sends nothing)",
    ),
    (
        "RAPPORT_OUTBOX_GIVE_UP_HOURS",
        "hours a reply is retried through a provider's outage before it is marked failed (default 24)",
    ),
    (
        "RAPPORT_GRAPH_BASE_URL",
        "Meta Graph API root for WhatsApp and Instagram (default https://graph.facebook.com)",
    ),
    (
        "RAPPORT_WHATSAPP_VERIFY_TOKEN",
        "secret; token Meta echoes when it verifies the webhook",
    ),
    (
        "RAPPORT_WHATSAPP_APP_SECRET",
        "secret; key of Meta's webhook signatures",
    ),
    (
        "RAPPORT_WHATSAPP_ACCESS_TOKEN",
        "secret; bearer token replies are sent with",
    ),
    (
        "RAPPORT_WHATSAPP_PHONE_NUMBER_ID",
        "the business number replies are sent from (read with the token)",
    ),
    (
        "RAPPORT_WHATSAPP_TEMPLATE",
        "approved template sent outside the 24-hour window (else such replies are undeliverable)",
    ),
    (
        "RAPPORT_WHATSAPP_TEMPLATE_LANGUAGE",
        "that template's language code (default en_US)",
    ),
    (
        "RAPPORT_INSTAGRAM_VERIFY_TOKEN",
        "secret; token Meta echoes when it verifies the Instagram webhook",
    ),
    (
        "RAPPORT_INSTAGRAM_APP_SECRET",
        "secret; key of the Instagram webhook signatures",
    ),
    (
        "RAPPORT_INSTAGRAM_ACCESS_TOKEN",
        "secret; token Instagram replies are sent with",
    ),
    (
        "RAPPORT_INSTAGRAM_ACCOUNT_ID",
        "Instagram account (or Page) replies are sent from (default me)",
    ),
    (
        "RAPPORT_API_CHANNEL_TOKEN",
        "secret; bearer token of POST /api/v1/channels/api/messages",
    ),
    (
        "RAPPORT_API_CALLBACK_URL",
        "where API-channel replies are delivered (else integrations read them from the API)",
    ),
    (
        "RAPPORT_API_CALLBACK_SECRET",
        "secret; key of the X-Rapport-Signature on those callbacks",
    ),
    (
        "RAPPORT_ADMIN_EMAIL",
        "e-mail of the admin created on first start (default admin@localhost)",
    ),
    (
        "RAPPORT_ADMIN_PASSWORD",
        "secret; that admin's password (else a one-time password is printed once)",
    ),
    (
        "RAPPORT_SMTP_URL",
        "secret; SMTP server replies by e-mail are sent through (smtps://user:pass@host:465)",
    ),
    (
        "RAPPORT_EMAIL_FROM",
        "From of e-mail replies, e.g. \"Acme Support <support@acme.test>\"",
    ),
    (
        "RAPPORT_EMAIL_WEBHOOK_SECRET",
        "secret; Mailgun webhook signing key of inbound mail",
    ),
    (
        "RAPPORT_EMAIL_MAX_BYTES",
        "largest inbound mail request in bytes (default 30 MiB)",
    ),
    (
        "RAPPORT_WIDGET_ALLOWED_ORIGINS",
        "comma-separated origins of the pages that may embed the web chat widget, or *",
    ),
    (
        "RAPPORT_WIDGET_VISITOR_MESSAGES_PER_MINUTE",
        "web chat messages one visitor may send per minute (default 20)",
    ),
    (
        "RAPPORT_WIDGET_IP_REQUESTS_PER_MINUTE",
        "web chat API requests one IP address may make per minute (default 300)",
    ),
    (
        "RAPPORT_WIDGET_TRUST_FORWARDED_FOR",
        "read the web chat client address from X-Forwarded-For (behind a proxy only)",
    ),
    (
        "RAPPORT_PUBLIC_URL",
        "the address customers reach Rapport at, for rating links (default http://<bind>:<port>)",
    ),
    (
        "RAPPORT_CSAT",
        "ask customers to rate resolved conversations (default true)",
    ),
    ("RAPPORT_PORT", "listen port (default 8080)"),
    ("RAPPORT_DATA_DIR", "data directory (default ./.rapport)"),
    (
        "RAPPORT_MODEL_DIR",
        "model directory (default <data_dir>/models)",
    ),
    ("RAPPORT_LOG", "log filter (default info)"),
    ("RAPPORT_LOG_FORMAT", "text or json"),
    (
        "RAPPORT_BODY_LIMIT",
        "largest request body in bytes (default 2 MiB)",
    ),
    (
        "RAPPORT_REQUEST_TIMEOUT_SECS",
        "request timeout (default 30)",
    ),
    (
        "RAPPORT_DB_MAX_CONNECTIONS",
        "database pool size (default 8)",
    ),
    (
        "RAPPORT_EMBED_BATCH_SIZE",
        "texts per embedding call (default 16)",
    ),
    (
        "RAPPORT_EMBED_THREADS",
        "ONNX Runtime threads (default: cores, at most 4)",
    ),
    (
        "RAPPORT_JOB_WORKERS",
        "background jobs run at once (default 2)",
    ),
    (
        "RAPPORT_CRAWL_ALLOW_PRIVATE",
        "let the crawler fetch private/loopback addresses (default false)",
    ),
    (
        "RAPPORT_MAX_UPLOAD_BYTES",
        "largest knowledge file upload (default 25 MiB)",
    ),
    (
        "RAPPORT_KNOWLEDGE_DIR",
        "server folder admins may name as an articles source or import (default: none)",
    ),
    (
        "QDRANT_URL",
        "Qdrant server (gRPC) instead of the embedded index (also RAPPORT_QDRANT_URL)",
    ),
    (
        "QDRANT_API_KEY",
        "secret; API key of that server (also RAPPORT_QDRANT_API_KEY)",
    ),
    (
        "DATABASE_URL",
        "secret; postgres://… switches to PostgreSQL (also RAPPORT_DATABASE_URL)",
    ),
];

impl Config {
    /// Reads the file (if any) and applies the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        Self::load_with(path, &|name| std::env::var(name).ok())
    }

    /// As [`Config::load`], with the environment given (tests).
    pub fn load_with(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?;
                toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> Result<T>
        where
            T::Err: std::fmt::Display,
        {
            value
                .trim()
                .parse()
                .map_err(|e| Error::Config(format!("{name}={value:?}: {e}")))
        }
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("RAPPORT_BIND") {
            self.bind = parse("RAPPORT_BIND", v)?;
        }
        if let Some(v) = get("RAPPORT_PORT") {
            self.port = parse("RAPPORT_PORT", v)?;
        }
        if let Some(v) = get("RAPPORT_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("RAPPORT_MODEL_DIR") {
            self.model_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("RAPPORT_LOG") {
            self.log.filter = v;
        }
        if let Some(v) = get("RAPPORT_LOG_FORMAT") {
            self.log.format = match v.trim() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => {
                    return Err(Error::Config(format!(
                        "RAPPORT_LOG_FORMAT={other:?}: expected text or json"
                    )));
                }
            };
        }
        if let Some(v) = get("RAPPORT_BODY_LIMIT") {
            self.http.body_limit = parse("RAPPORT_BODY_LIMIT", v)?;
        }
        if let Some(v) = get("RAPPORT_REQUEST_TIMEOUT_SECS") {
            self.http.request_timeout_secs = parse("RAPPORT_REQUEST_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = get("RAPPORT_DB_MAX_CONNECTIONS") {
            self.database.max_connections = parse("RAPPORT_DB_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = get("RAPPORT_EMBED_BATCH_SIZE") {
            self.embedder.batch_size = parse("RAPPORT_EMBED_BATCH_SIZE", v)?;
        }
        if let Some(v) = get("RAPPORT_EMBED_THREADS") {
            self.embedder.threads = Some(parse("RAPPORT_EMBED_THREADS", v)?);
        }
        if let Some(v) = get("RAPPORT_JOB_WORKERS") {
            self.jobs.workers = parse("RAPPORT_JOB_WORKERS", v)?;
        }
        if let Some(v) = get("RAPPORT_QDRANT_URL").or_else(|| get("QDRANT_URL")) {
            self.index.qdrant_url = Some(v.trim().to_owned());
        }
        if let Some(v) = get("RAPPORT_CRAWL_ALLOW_PRIVATE") {
            self.knowledge.allow_private_addresses = parse("RAPPORT_CRAWL_ALLOW_PRIVATE", v)?;
        }
        if let Some(v) = get("RAPPORT_MAX_UPLOAD_BYTES") {
            self.knowledge.max_upload_bytes = parse("RAPPORT_MAX_UPLOAD_BYTES", v)?;
        }
        if let Some(v) = get("RAPPORT_KNOWLEDGE_DIR") {
            self.knowledge.server_folder = Some(PathBuf::from(v.trim()));
        }
        if let Some(v) = get("RAPPORT_LLM_BASE_URL") {
            self.llm.base_url = v.trim().to_owned();
        }
        if let Some(v) = get("RAPPORT_LLM_MODEL") {
            self.llm.model = Some(v.trim().to_owned());
        }
        if let Some(v) = get("RAPPORT_SUPPORT_THRESHOLD") {
            self.agent.support_threshold = parse("RAPPORT_SUPPORT_THRESHOLD", v)?;
        }
        if let Some(v) = get("RAPPORT_DEFAULT_REGION") {
            self.agent.default_region = v.trim().to_uppercase();
        }
        if let Some(v) = get("RAPPORT_PROMPTS_DIR") {
            self.agent.prompts_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("RAPPORT_OUTBOX_GIVE_UP_HOURS") {
            self.outbox.give_up_after_hours = parse("RAPPORT_OUTBOX_GIVE_UP_HOURS", v)?;
        }
        if let Some(v) = get("RAPPORT_OUTBOX_SENDERS") {
            self.outbox.senders = parse("RAPPORT_OUTBOX_SENDERS", v)?;
        }
        if let Some(v) = get("RAPPORT_GRAPH_BASE_URL") {
            self.graph.base_url = v.trim().trim_end_matches('/').to_owned();
        }
        if let Some(v) = get("RAPPORT_INSTAGRAM_ACCOUNT_ID") {
            self.instagram.account_id = v.trim().to_owned();
        }
        if let Some(v) = get("RAPPORT_PUBLIC_URL") {
            self.analytics.public_url = Some(v.trim().trim_end_matches('/').to_owned());
        }
        if let Some(v) = get("RAPPORT_REASSIGN_AFTER_MINUTES") {
            self.inbox.reassign_after_minutes = parse("RAPPORT_REASSIGN_AFTER_MINUTES", v)?;
        }
        if let Some(v) = get("RAPPORT_CSAT") {
            self.analytics.csat = parse("RAPPORT_CSAT", v)?;
        }
        if let Some(v) = get("RAPPORT_ADMIN_EMAIL") {
            self.auth.admin_email = Some(v.trim().to_owned());
        }
        if let Some(v) = get("RAPPORT_API_CALLBACK_URL") {
            self.api_channel.callback_url = Some(v.trim().to_owned());
        }
        if let Some(v) = get("RAPPORT_WHATSAPP_TEMPLATE") {
            self.whatsapp.template = Some(v.trim().to_owned());
        }
        if let Some(v) = get("RAPPORT_WHATSAPP_TEMPLATE_LANGUAGE") {
            self.whatsapp.template_language = v.trim().to_owned();
        }
        if let Some(v) = get("RAPPORT_EMAIL_FROM") {
            self.email.from = Some(v.trim().to_owned());
        }
        if let Some(v) = get("RAPPORT_EMAIL_MAX_BYTES") {
            self.email.max_bytes = parse("RAPPORT_EMAIL_MAX_BYTES", v)?;
        }
        if let Some(v) = get("RAPPORT_WIDGET_ALLOWED_ORIGINS") {
            self.widget.allowed_origins = v
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("RAPPORT_WIDGET_VISITOR_MESSAGES_PER_MINUTE") {
            self.widget.visitor_messages_per_minute =
                parse("RAPPORT_WIDGET_VISITOR_MESSAGES_PER_MINUTE", v)?;
        }
        if let Some(v) = get("RAPPORT_WIDGET_IP_REQUESTS_PER_MINUTE") {
            self.widget.ip_requests_per_minute = parse("RAPPORT_WIDGET_IP_REQUESTS_PER_MINUTE", v)?;
        }
        if let Some(v) = get("RAPPORT_WIDGET_TRUST_FORWARDED_FOR") {
            self.widget.trust_forwarded_for = parse("RAPPORT_WIDGET_TRUST_FORWARDED_FOR", v)?;
        }
        self.widget.origins()?;
        self.secrets = Secrets::from_env(env);
        Ok(())
    }

    /// Where people reach this Rapport (`RAPPORT_PUBLIC_URL`), for links in what it sends:
    /// rating links, agents' notices. Default: the bind address and port.
    pub fn public_url(&self) -> String {
        self.analytics
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}", self.bind, self.port))
    }

    pub fn model_dir(&self) -> PathBuf {
        self.model_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models"))
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("rapport.db")
    }

    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    /// Where uploaded knowledge files are kept.
    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }

    pub fn knowledge_settings(&self) -> rapport_knowledge::KnowledgeSettings {
        let mut settings = rapport_knowledge::KnowledgeSettings::new(self.uploads_dir());
        settings.allow_private_addresses = self.knowledge.allow_private_addresses;
        settings.server_folder = self.knowledge.server_folder.clone();
        settings.index_batch = self.knowledge.index_batch.max(1);
        settings.fusion = self.knowledge.fusion;
        settings.title_weight = self.knowledge.title_weight.max(0.0);
        settings.token_weight = self.knowledge.token_weight.max(0.0);
        settings.chunk_sizes =
            rapport_knowledge::chunk::ChunkSizes::scaled(self.knowledge.chunk_max_tokens);
        settings
    }

    pub fn desk_settings(&self) -> rapport_desk::DeskSettings {
        let i = &self.inbox;
        rapport_desk::DeskSettings {
            presence: rapport_desk::PresencePolicy {
                offline_after: chrono::Duration::seconds(i.offline_after_secs.max(10)),
                away_after: chrono::Duration::minutes(i.away_after_minutes.max(1)),
            },
            reassign_after: chrono::Duration::minutes(i.reassign_after_minutes.max(0)),
            business_hours: self.agent_settings().business_hours,
            assignment_emails: self.secrets.smtp_url.is_some().then(|| self.public_url()),
        }
    }

    pub fn agent_settings(&self) -> rapport_agent::AgentSettings {
        let a = &self.agent;
        rapport_agent::AgentSettings {
            persona: rapport_agent::model::Persona {
                bot_name: a.bot_name.clone(),
                business_name: a.business_name.clone(),
                instructions: None,
            },
            support_threshold: a.support_threshold,
            escalate_when_unsure: a.escalate_when_unsure,
            max_unhelpful_replies: a.max_unhelpful_replies.max(1),
            handoff_topics: a.handoff_topics.clone(),
            context_tokens: a.context_tokens.max(100),
            retrieval_limit: a.retrieval_limit.clamp(1, 50),
            conversation_idle: chrono::Duration::hours(a.conversation_idle_hours.max(1)),
            memory_quiet: chrono::Duration::minutes(a.memory_quiet_minutes.max(0)),
            default_region: a.default_region.clone(),
            csat_link_base: self.analytics.csat.then(|| self.public_url()),
            business_hours: None,
            holding_replies: a.holding_replies,
            agent_active: chrono::Duration::minutes(a.agent_active_minutes.max(0)),
            holding_quiet: chrono::Duration::minutes(a.holding_quiet_minutes.max(0)),
            verified_for: chrono::Duration::hours(a.verified_hours.clamp(1, 24 * 90)),
        }
    }

    /// The OpenAI-compatible client, when a model is configured.
    pub fn llm_settings(&self) -> Option<rapport_agent::llm::LlmSettings> {
        let model = self.llm.model.as_ref().filter(|m| !m.trim().is_empty())?;
        let mut s = rapport_agent::llm::LlmSettings::new(self.llm.base_url.clone(), model.clone());
        s.api_key = self
            .secrets
            .llm_api_key
            .as_ref()
            .map(|k| k.expose().to_owned());
        s.timeout = Duration::from_secs(self.llm.timeout_secs.max(1));
        s.max_attempts = self.llm.max_attempts.max(1);
        s.temperature = self.llm.temperature;
        s.max_tokens = self.llm.max_tokens;
        Some(s)
    }

    pub fn outbox_settings(&self) -> rapport_channels::outbox::OutboxSettings {
        let o = &self.outbox;
        rapport_channels::outbox::OutboxSettings {
            concurrency: o.senders,
            max_attempts: o.max_attempts.max(1),
            give_up_after: Duration::from_secs_f64(o.give_up_after_hours.max(0.0) * 3600.0),
            base_delay: Duration::from_millis(o.base_delay_ms),
            max_delay: Duration::from_secs(o.max_delay_secs.max(1)),
            poll_interval: Duration::from_millis(o.poll_interval_ms.max(10)),
            rate_per_second: o.rate_per_second.iter().map(|(c, r)| (*c, *r)).collect(),
            ..rapport_channels::outbox::OutboxSettings::default()
        }
    }

    /// The WhatsApp sender's settings, when its token and number are configured.
    pub fn whatsapp_sender(&self) -> Option<rapport_channels::whatsapp::SenderSettings> {
        let token = self.secrets.whatsapp_access_token.as_ref()?;
        let number = self.secrets.whatsapp_phone_number_id.as_ref()?;
        let w = &self.whatsapp;
        Some(rapport_channels::whatsapp::SenderSettings {
            graph_base_url: self.graph.base_url.clone(),
            graph_version: self.graph.version.clone(),
            phone_number_id: number.expose().to_owned(),
            access_token: token.expose().to_owned(),
            template: w
                .template
                .clone()
                .map(|name| rapport_channels::whatsapp::Template {
                    name,
                    language: w.template_language.clone(),
                    takes_text: w.template_takes_text,
                }),
            timeout: Duration::from_secs(self.graph.timeout_secs.max(1)),
        })
    }

    /// Downloads WhatsApp media for agents, when the access token is configured.
    pub fn whatsapp_media(&self) -> Option<Result<rapport_channels::whatsapp::MediaFetcher>> {
        let token = self.secrets.whatsapp_access_token.as_ref()?;
        Some(
            rapport_channels::whatsapp::MediaFetcher::new(
                &self.graph.base_url,
                &self.graph.version,
                token.expose(),
                Duration::from_secs(self.graph.timeout_secs.max(1) * 4),
                self.whatsapp.max_media_bytes,
            )
            .map_err(|e| Error::Config(format!("WhatsApp media: {e}"))),
        )
    }

    /// The Instagram sender's settings, when its token is configured.
    pub fn instagram_sender(&self) -> Option<rapport_channels::instagram::SenderSettings> {
        let token = self.secrets.instagram_access_token.as_ref()?;
        Some(rapport_channels::instagram::SenderSettings {
            graph_base_url: self.graph.base_url.clone(),
            graph_version: self.graph.version.clone(),
            account_id: self.instagram.account_id.clone(),
            access_token: token.expose().to_owned(),
            timeout: Duration::from_secs(self.graph.timeout_secs.max(1)),
        })
    }

    /// The e-mail sender's settings, when an SMTP server is configured; an SMTP server without
    /// a From address is a configuration error, not a silent "e-mail off".
    pub fn email_sender(&self) -> Result<Option<rapport_channels::email::EmailSettings>> {
        let Some(url) = self.secrets.smtp_url.as_ref() else {
            return Ok(None);
        };
        let from = self
            .email
            .from
            .clone()
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| {
                Error::Config(
                    "RAPPORT_SMTP_URL is set but not the From address of replies \
                     (RAPPORT_EMAIL_FROM or [email] from)"
                        .into(),
                )
            })?;
        Ok(Some(rapport_channels::email::EmailSettings {
            smtp_url: url.expose().to_owned(),
            from,
            timeout: Duration::from_secs(self.email.timeout_secs.max(1)),
            default_subject: self.email.default_subject.clone(),
        }))
    }

    /// The address our own replies come from, lower-cased (mail from it is never answered).
    pub fn email_from_address(&self) -> Option<String> {
        let from = self.email.from.as_deref()?;
        let address = match (from.rfind('<'), from.rfind('>')) {
            (Some(start), Some(end)) if start < end => &from[start + 1..end],
            _ => from,
        };
        Some(address.trim().to_lowercase()).filter(|a| a.contains('@'))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.http.request_timeout_secs.max(1))
    }

    pub fn store_options(&self) -> rapport_store::StoreOptions {
        let mut opts = rapport_store::StoreOptions::sqlite(self.sqlite_path());
        opts.database_url = self
            .secrets
            .database_url
            .as_ref()
            .map(|s| s.expose().to_owned());
        opts.max_connections = self.database.max_connections.max(1);
        opts
    }

    pub fn embedder_options(&self) -> rapport_embed::EmbedderOptions {
        let mut opts = rapport_embed::EmbedderOptions::in_model_root(&self.model_dir());
        opts.batch_size = self.embedder.batch_size.max(1);
        if let Some(t) = self.embedder.threads {
            opts.threads = t.max(1);
        }
        opts
    }

    /// The effective configuration as TOML, secrets masked (`rapport config show`).
    pub fn to_masked_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rapport.toml");
        std::fs::write(
            &path,
            "port = 9000\ndata_dir = \"/var/lib/rapport\"\n[jobs]\nworkers = 4\n",
        )
        .unwrap();
        let c = Config::load_with(Some(&path), &env(&[("RAPPORT_PORT", "9100")])).unwrap();
        assert_eq!(c.port, 9100);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/rapport"));
        assert_eq!(c.jobs.workers, 4);
        assert_eq!(c.model_dir(), PathBuf::from("/var/lib/rapport/models"));
    }

    #[test]
    fn knowledge_and_index_settings_come_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rapport.toml");
        std::fs::write(
            &path,
            "[knowledge]\ntitle_weight = 0.5\ntoken_weight = 0.4\n[knowledge.fusion]\nmethod = \"rrf\"\nk = 30.0\ndense_weight = 0.7\n",
        )
        .unwrap();
        let c = Config::load_with(
            Some(&path),
            &env(&[
                ("RAPPORT_CRAWL_ALLOW_PRIVATE", "true"),
                ("QDRANT_URL", "http://qdrant:6334"),
                ("QDRANT_API_KEY", "s3cret"),
            ]),
        )
        .unwrap();
        let settings = c.knowledge_settings();
        assert!(settings.allow_private_addresses);
        assert_eq!(settings.title_weight, 0.5);
        assert_eq!(settings.token_weight, 0.4);
        assert_eq!(
            settings.fusion,
            rapport_knowledge::fusion::Fusion::Rrf {
                k: 30.0,
                dense_weight: 0.7
            }
        );
        assert_eq!(c.index.qdrant_url.as_deref(), Some("http://qdrant:6334"));
        let shown = c.to_masked_toml().unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn secrets_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rapport.toml");
        std::fs::write(&path, "[secrets]\ndatabase_url = \"postgres://u:p@h/db\"\n").unwrap();
        assert!(Config::load_with(Some(&path), &env(&[])).is_err());
    }

    #[test]
    fn config_show_masks_the_database_password() {
        let c = Config::load_with(
            None,
            &env(&[("DATABASE_URL", "postgres://app:hunter2@db/rapport")]),
        )
        .unwrap();
        let shown = c.to_masked_toml().unwrap();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://app:***@db/rapport"), "{shown}");
        assert!(format!("{c:?}").contains("***") && !format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn email_settings_come_from_the_environment_and_hide_the_smtp_password() {
        let c = Config::load_with(
            None,
            &env(&[
                (
                    "RAPPORT_SMTP_URL",
                    "smtps://apikey:hunter2@smtp.example.com:465",
                ),
                ("RAPPORT_EMAIL_FROM", "Acme Support <Support@Acme.test>"),
                ("RAPPORT_EMAIL_WEBHOOK_SECRET", "key-abc"),
            ]),
        )
        .unwrap();
        let settings = c.email_sender().unwrap().expect("configured");
        assert_eq!(settings.from, "Acme Support <Support@Acme.test>");
        assert_eq!(c.email_from_address().as_deref(), Some("support@acme.test"));
        let shown = c.to_masked_toml().unwrap();
        assert!(
            !shown.contains("hunter2") && !shown.contains("key-abc"),
            "{shown}"
        );
        assert!(shown.contains("smtp.example.com"), "{shown}");

        let no_from =
            Config::load_with(None, &env(&[("RAPPORT_SMTP_URL", "smtp://localhost:25")])).unwrap();
        assert!(no_from.email_sender().is_err());
        assert!(
            Config::load_with(None, &env(&[]))
                .unwrap()
                .email_sender()
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn widget_origins_come_from_the_environment_and_a_bad_one_is_named() {
        let c = Config::load_with(
            None,
            &env(&[(
                "RAPPORT_WIDGET_ALLOWED_ORIGINS",
                " https://Shop.example/ , http://127.0.0.1:3000",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.widget.origins().unwrap(),
            vec!["https://shop.example", "http://127.0.0.1:3000"]
        );
        let err = Config::load_with(
            None,
            &env(&[("RAPPORT_WIDGET_ALLOWED_ORIGINS", "shop.example/chat")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("shop.example/chat"), "{err}");
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = Config::load_with(None, &env(&[("RAPPORT_PORT", "eighty")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RAPPORT_PORT"), "{err}");
    }
}
