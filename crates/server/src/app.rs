//! Building the application from its configuration and running it.

use std::sync::Arc;
use std::time::Duration;

use rapport_agent::model::{ChatModel, Extractive, FaqCondenser, LlmChatModel, Resilient};
use rapport_agent::prompts::Prompts;
use rapport_agent::{Agent, MEMORY_JOB, MemoryJob, REPLY_JOB, ReplyJob};
use rapport_channels::api::CallbackSender;
use rapport_channels::email::EmailSender;
use rapport_channels::instagram::InstagramSender;
use rapport_channels::outbound::ReadByClient;
use rapport_channels::outbox::OutboxSender;
use rapport_channels::web::WebSender;
use rapport_channels::whatsapp::WhatsappSender;
use rapport_core::domain::Channel;
use rapport_core::ports::{Embedder, VectorIndex};
use rapport_embed::LocalEmbedder;
use rapport_index::{EdgeIndex, QdrantServerIndex, QdrantServerOptions};
use rapport_knowledge::{KnowledgeBase, SYNC_JOB, SyncSourceJob};
use rapport_store::Store;
use rapport_store::runner::{JobRunner, RunnerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::{Config, Result};

/// Everything a request handler or a job can reach. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    pub embedder: Arc<dyn Embedder>,
    pub index: Arc<dyn VectorIndex>,
    pub knowledge: KnowledgeBase,
    pub agent: Agent,
    /// The agents' workspace: canned replies, tasks, notifications, presence.
    pub desk: rapport_desk::Desk,
    /// Signs people in and recognises callers.
    pub auth: rapport_auth::Authenticator,
    /// Delivers outbound messages on their channels.
    pub outbox: OutboxSender,
    /// Channel credentials as configured and saved on the Settings page, and the WhatsApp
    /// media client built from them; read these, not `config`, for channel secrets.
    pub channels: Arc<crate::settings::LiveChannels>,
    /// Seals the channel secrets saved on the Settings page.
    pub secret_box: crate::settings::SecretBox,
    /// The web chat widget's sessions, live hub and limits.
    pub widget: crate::widget::Widget,
    pub(crate) metrics: Arc<Metrics>,
}

/// Texts the embedder remembers: enough for the replies being worked on at once.
const RECENT_EMBEDDINGS: usize = 64;

impl App {
    /// Opens the database (and migrates it), loads the embedder and opens the vector index.
    pub async fn build(config: Config) -> Result<App> {
        let store = Store::connect(&config.store_options()).await?;
        store.migrate().await?;
        tracing::info!(backend = store.backend().as_str(), "database ready");

        let embed_opts = config.embedder_options();
        let embedder = tokio::task::spawn_blocking(move || LocalEmbedder::load(&embed_opts))
            .await
            .map_err(|e| crate::Error::Config(format!("embedder loader panicked: {e}")))??;
        tracing::info!(model = rapport_embed::MODEL_NAME, "embedder ready");

        let index = open_index(&config).await?;
        // A message is embedded to read its intent and again to search for it: the second
        // time comes from the last few texts embedded.
        let embedder: Arc<dyn Embedder> = Arc::new(rapport_embed::RecentEmbeddings::new(
            Arc::new(embedder),
            RECENT_EMBEDDINGS,
        ));
        let model = chat_model(&config)?;
        tracing::info!(model = model.name(), "chat model ready");
        let mut knowledge = KnowledgeBase::new(
            store.clone(),
            embedder.clone(),
            index.clone(),
            config.knowledge_settings(),
        );
        if config.llm_settings().is_some() {
            knowledge = knowledge.with_condenser(Arc::new(FaqCondenser(model.clone())));
        }
        // Pairs mined before personal data was removed from them are cleaned by a sync.
        let queued = knowledge.queue_candidate_cleaning().await?;
        if queued > 0 {
            tracing::info!(
                sources = queued,
                "conversation sources queued to clean their mined pairs"
            );
        }
        let secret_box = crate::settings::SecretBox::new(
            config.secrets.settings_key.as_ref().map(|k| k.expose()),
        );
        if !secret_box.seals() {
            tracing::warn!(
                "RAPPORT_SETTINGS_KEY is not set: channel and action secrets saved in Settings are stored unsealed"
            );
        }
        let agent = Agent::new(
            store.clone(),
            knowledge.clone(),
            model,
            config.agent_settings(),
        )
        .with_intent_cache(config.model_dir().join("cache"))
        .with_sealer(Arc::new(secret_box.clone()));
        // The intent examples are embedded once (then read from the cache) before the first
        // message needs them.
        let warming = agent.intents().clone();
        tokio::spawn(async move {
            if let Err(e) = warming.warm().await {
                tracing::warn!(error = %e, "intent examples not encoded yet; the first message will try again");
            }
        });
        let widget = crate::widget::Widget::new(&config, store.clone())?;
        let whatsapp_media = config.whatsapp_media().transpose()?.map(Arc::new);
        let config = Arc::new(config);
        let channels = Arc::new(crate::settings::LiveChannels::new(
            config.clone(),
            whatsapp_media,
        ));
        let auth = rapport_auth::Authenticator::new(
            store.clone(),
            Duration::from_secs(config.auth.session_hours.max(1) * 3600),
        );
        let metrics = Arc::new(Metrics::new());
        let observed = metrics.clone();
        let outbox = outbox_sender(&config, &store, &widget)?
            .observe(move |channel, outcome| observed.observe_delivery(channel, outcome));
        let desk = rapport_desk::Desk::new(store.clone(), config.desk_settings());
        let app = App {
            config,
            desk,
            store,
            embedder,
            index,
            knowledge,
            agent,
            outbox,
            auth,
            channels,
            secret_box,
            widget,
            metrics,
        };
        // What admins saved last time applies from the start; saved credentials that no
        // longer work are reported and the configured ones kept, rather than refusing to start.
        match app
            .saved_settings(crate::settings::CHANNELS_WORKSPACE)
            .await
        {
            Ok(stored) => {
                if let Err(problems) = app.apply_settings(&stored) {
                    tracing::error!(problems = %problems.join("; "), "saved channel settings not applied");
                }
            }
            Err(crate::settings::SaveError::Store(e)) => return Err(e.into()),
            Err(crate::settings::SaveError::Refused(why)) => {
                tracing::error!(
                    ?why,
                    "saved channel settings not applied; the configured ones are used"
                )
            }
        }
        Ok(app)
    }

    /// The Settings page's view of a workspace (secrets shown only as set or not).
    pub async fn settings_view(
        &self,
        ws: rapport_core::ids::WorkspaceId,
    ) -> std::result::Result<serde_json::Value, crate::error::ApiError> {
        let stored = self.saved_settings(ws).await.map_err(|e| {
            match e {
            crate::settings::SaveError::Store(e) => crate::error::ApiError::from(e),
            crate::settings::SaveError::Refused(_) => crate::error::ApiError::Unavailable(
                "the saved channel secrets cannot be opened with this server's RAPPORT_SETTINGS_KEY"
                    .into(),
            ),
        }
        })?;
        let model = self
            .config
            .llm_settings()
            .map(|_| self.agent.model_name().to_owned());
        Ok(crate::settings::view(
            ws,
            &stored,
            &self.config,
            self.agent.settings(),
            model.as_deref(),
        ))
    }

    /// Checks and stores a settings change, then applies it. Credentials are tried before they
    /// are saved: a token or SMTP URL that cannot work is refused, and the running channels
    /// keep the ones they had.
    pub async fn save_settings(
        &self,
        ws: rapport_core::ids::WorkspaceId,
        user_id: i64,
        change: crate::settings::SettingsChange,
    ) -> std::result::Result<(), crate::settings::SaveError> {
        use crate::settings::SaveError;
        let stored = self.saved_settings(ws).await?;
        let (settings, secrets) =
            crate::settings::merge(ws, &stored, change).map_err(SaveError::Refused)?;
        // Credentials are tried before they are saved; what was built is what gets installed.
        let clients = if ws == crate::settings::CHANNELS_WORKSPACE {
            Some(
                crate::settings::ChannelClients::build(crate::settings::with_credentials(
                    &self.config,
                    &secrets,
                ))
                .map_err(|p| SaveError::Refused(crate::settings::Refusal::Invalid(p)))?,
            )
        } else {
            None
        };
        let sealed = self
            .secret_box
            .seal(&secrets)
            .map_err(|e| SaveError::Refused(crate::settings::Refusal::Invalid(vec![e])))?;
        self.store
            .save_workspace_settings(ws, &settings, &sealed, Some(user_id))
            .await?;
        if let Some(clients) = clients {
            self.install(clients, &settings);
        }
        tracing::info!(workspace = %ws, user = user_id, "settings saved");
        Ok(())
    }

    /// A workspace's saved settings with its secrets opened.
    pub async fn saved_settings(
        &self,
        ws: rapport_core::ids::WorkspaceId,
    ) -> std::result::Result<rapport_store::settings::StoredSettings, crate::settings::SaveError>
    {
        let mut stored = self.store.workspace_settings(ws).await?;
        stored.secrets = self.secret_box.open(&stored.secrets).map_err(|e| {
            crate::settings::SaveError::Refused(crate::settings::Refusal::Invalid(vec![e]))
        })?;
        Ok(stored)
    }

    /// Applies the default workspace's saved settings to what lives in this process: channel
    /// senders and clients, the widget's names and identity secret, and the model's tuning.
    /// Nothing changes when the credentials cannot work; the problems say why.
    pub fn apply_settings(
        &self,
        stored: &rapport_store::settings::StoredSettings,
    ) -> std::result::Result<(), Vec<String>> {
        let config = crate::settings::with_credentials(&self.config, &stored.secrets);
        let clients = crate::settings::ChannelClients::build(config)?;
        self.install(clients, &stored.settings);
        Ok(())
    }

    /// Puts channel clients built from saved credentials in place, with the saved names and
    /// model tuning.
    fn install(&self, clients: crate::settings::ChannelClients, settings: &serde_json::Value) {
        for sender in &clients.senders {
            self.outbox.replace_sender(sender.clone());
        }
        for channel in &clients.unconfigured {
            self.outbox.remove_sender(*channel);
        }
        let saved: rapport_agent::settings::WorkspaceSettings =
            serde_json::from_value(settings.clone()).unwrap_or_default();
        let persona = saved.apply(self.agent.settings()).persona;
        self.widget.configure(
            &persona.business_name,
            &persona.bot_name,
            clients
                .config
                .secrets
                .identity_secret
                .as_ref()
                .map(|s| s.expose().to_owned()),
        );
        self.agent
            .retune_model(&saved.model.clone().unwrap_or_default());
        self.channels.replace(&clients);
    }

    /// Serves HTTP on `listener` and runs the job workers until `shutdown` is cancelled.
    pub fn start(self, listener: TcpListener, shutdown: CancellationToken) -> Running {
        let mut workers = self.job_runner().start(shutdown.clone());
        // Drained with the workers on shutdown: a sender finishes the delivery in hand.
        let mut senders = self.outbox.clone().start(shutdown.clone());
        workers.spawn(async move { while senders.join_next().await.is_some() {} });
        // Live event streams never end by themselves; graceful shutdown waits for them.
        let (live, closing) = (self.widget.live().clone(), shutdown.clone());
        tokio::spawn(async move {
            closing.cancelled().await;
            live.close()
        });
        workers.spawn(send_task_reminders(self.desk.clone(), shutdown.clone()));
        workers.spawn(forget_old_rows(
            self.store.clone(),
            self.config.retention.clone(),
            shutdown.clone(),
        ));
        workers.spawn(route_escalations(
            self.desk.clone(),
            Duration::from_millis(self.config.inbox.routing_interval_ms.max(100)),
            shutdown.clone(),
        ));
        let router = crate::http::router(self.clone());
        let http_shutdown = shutdown.clone();
        let limits = crate::serve::ConnectionLimits {
            header_read_timeout: Duration::from_secs(
                self.config.http.header_read_timeout_secs.max(1),
            ),
            max_connections: self.config.http.max_connections,
        };
        let server = tokio::spawn(crate::serve::serve(listener, router, limits, http_shutdown));
        Running {
            server,
            workers,
            shutdown,
            grace: Duration::from_secs(self.config.http.shutdown_grace_secs),
        }
    }

    /// The workers of this app with every job handler registered (not started).
    pub fn job_runner(&self) -> JobRunner {
        let jobs = &self.config.jobs;
        let config = RunnerConfig {
            workers: jobs.workers,
            customer_facing_workers: jobs.reply_workers,
            poll_interval: Duration::from_millis(jobs.poll_interval_ms.max(10)),
            lease: Duration::from_secs(jobs.lease_secs.max(1)),
            heartbeat_interval: Duration::from_secs((jobs.lease_secs / 4).max(1)),
            shutdown_grace: Duration::from_secs(self.config.http.shutdown_grace_secs),
            ..RunnerConfig::default()
        };
        // Job kinds register their handlers here as the product grows (outbox delivery next).
        JobRunner::new(self.store.clone(), config)
            .handle(SYNC_JOB, SyncSourceJob(self.knowledge.clone()))
            .handle(
                REPLY_JOB,
                ReplyJob::new(self.agent.clone())
                    .observed_by(self.widget.reply_observer())
                    .observed_by(Arc::new(crate::metrics::ReplyMetrics(self.metrics.clone()))),
            )
            .handle(MEMORY_JOB, MemoryJob(self.agent.clone()))
    }
}

/// How often due tasks are looked for: a reminder arrives within this of its time.
const REMINDER_TICK: Duration = Duration::from_secs(15);

/// Reminds assignees of tasks as they fall due, until shutdown. Every node runs this; the store
/// claims each reminder once.
async fn send_task_reminders(desk: rapport_desk::Desk, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(REMINDER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = desk.send_due_reminders(chrono::Utc::now()).await {
            tracing::warn!(error = %e, "task reminders not sent; trying again");
        }
    }
}

/// How often old jobs and traces are looked for.
const RETENTION_TICK: Duration = Duration::from_secs(3600);

/// Deletes finished jobs and slims old traces (in batches, until a pass finds nothing), every
/// hour until shutdown. Every node may run it: each statement is idempotent.
async fn forget_old_rows(
    store: Store,
    keep: crate::config::RetentionConfig,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(RETENTION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = chrono::Utc::now();
        let days = |d: i64| now - chrono::Duration::days(d.max(1));
        loop {
            match store
                .forget_old(
                    days(keep.done_jobs_days),
                    days(keep.dead_jobs_days),
                    days(keep.full_traces_days),
                )
                .await
            {
                Ok(f) if f == rapport_store::retention::Forgotten::default() => break,
                Ok(f) => tracing::info!(jobs = f.jobs, traces = f.traces, "old rows forgotten"),
                Err(e) => {
                    tracing::warn!(error = %e, "old rows not forgotten; trying again later");
                    break;
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }
}

/// Routes and assigns escalations and watches their SLAs, until shutdown. Every node runs
/// this; the store's conditional writes keep nodes from doubling anything.
async fn route_escalations(desk: rapport_desk::Desk, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match desk.route_once(chrono::Utc::now()).await {
            Ok(report) if report != rapport_desk::routing::RoutingReport::default() => {
                tracing::info!(?report, "routing pass");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "routing pass failed; trying again"),
        }
    }
}

/// The outbox sender with a sender for every channel that is configured. Channels whose client
/// reads replies from us (web chat, API integrations without a callback) need no credentials.
fn outbox_sender(
    config: &Config,
    store: &Store,
    widget: &crate::widget::Widget,
) -> Result<OutboxSender> {
    let configured = |what: &str, e: rapport_channels::outbound::SendError| {
        crate::Error::Config(format!("{what} sender: {e}"))
    };
    let mut outbox = OutboxSender::new(store.clone(), config.outbox_settings())
        .with_sender(Arc::new(WebSender::new(widget.live().clone())));
    if let Some(settings) = config.whatsapp_sender() {
        let sender = WhatsappSender::new(settings).map_err(|e| configured("WhatsApp", e))?;
        outbox = outbox.with_sender(Arc::new(sender));
    }
    if let Some(settings) = config.instagram_sender() {
        let sender = InstagramSender::new(settings).map_err(|e| configured("Instagram", e))?;
        outbox = outbox.with_sender(Arc::new(sender));
    }
    outbox = match &config.api_channel.callback_url {
        Some(url) => {
            let secret = config
                .secrets
                .api_callback_secret
                .as_ref()
                .map(|s| s.expose().to_owned())
                .ok_or_else(|| {
                    crate::Error::Config(
                        "RAPPORT_API_CALLBACK_URL is set but RAPPORT_API_CALLBACK_SECRET is not: \
                         callbacks must be signed"
                            .into(),
                    )
                })?;
            let timeout = Duration::from_secs(config.api_channel.timeout_secs.max(1));
            let sender =
                CallbackSender::new(url, &secret, timeout).map_err(|e| configured("API", e))?;
            outbox.with_sender(Arc::new(sender))
        }
        None => outbox.with_sender(Arc::new(ReadByClient(Channel::Api))),
    };
    if let Some(settings) = config.email_sender()? {
        let sender = EmailSender::new(settings)
            .map_err(|e| crate::Error::Config(format!("e-mail sender: {e}")))?;
        outbox = outbox.with_sender(Arc::new(sender));
    }
    Ok(outbox)
}

/// The configured language model, or the extractive one when none is.
pub fn chat_model(config: &Config) -> Result<Arc<dyn ChatModel>> {
    let Some(settings) = config.llm_settings() else {
        return Ok(Arc::new(Extractive::new()));
    };
    let prompts = Prompts::load(config.agent.prompts_dir.as_deref())
        .map_err(|e| crate::Error::Config(e.to_string()))?;
    let client = rapport_agent::llm::OpenAiCompatible::new(settings)
        .map_err(|e| crate::Error::Config(format!("language model: {e}")))?;
    // The model server may be down; the customer is answered all the same.
    let policy = rapport_agent::model::FallbackPolicy {
        deadline: Duration::from_secs(config.llm.deadline_secs.max(1)),
        cool_down: Duration::from_secs(config.llm.cool_down_secs),
    };
    Ok(Arc::new(Resilient::new(
        Box::new(LlmChatModel::new(client, Arc::new(prompts))),
        policy,
    )))
}

/// The configured vector index: a Qdrant server when `QDRANT_URL` is set, else Qdrant Edge in
/// the data dir.
async fn open_index(config: &Config) -> Result<Arc<dyn VectorIndex>> {
    let dims = rapport_embed::DIMENSIONS;
    if let Some(url) = &config.index.qdrant_url {
        let mut opts = QdrantServerOptions::new(url.clone(), dims);
        opts.collection = config.index.qdrant_collection.clone();
        opts.api_key = config
            .secrets
            .qdrant_api_key
            .as_ref()
            .map(|k| k.expose().to_owned());
        let index = QdrantServerIndex::connect(opts)
            .await
            .map_err(rapport_core::Error::from)?;
        tracing::info!(%url, collection = %config.index.qdrant_collection, "vector index ready (Qdrant server)");
        return Ok(Arc::new(index));
    }
    let index_dir = config.index_dir();
    let dir = index_dir.clone();
    let index = tokio::task::spawn_blocking(move || EdgeIndex::open(&dir, dims))
        .await
        .map_err(|e| crate::Error::Config(format!("index opener panicked: {e}")))?
        .map_err(rapport_core::Error::from)?;
    tracing::info!(path = %index_dir.display(), "vector index ready (Qdrant Edge)");
    Ok(Arc::new(index))
}

/// A started app: await [`Running::stopped`] after cancelling its token.
pub struct Running {
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    workers: JoinSet<()>,
    shutdown: CancellationToken,
    grace: Duration,
}

impl Running {
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until in-flight requests have finished and every worker has finished or handed
    /// back its job.
    pub async fn stopped(mut self) -> Result<()> {
        self.shutdown.cancelled().await;
        // Workers give their jobs the grace period, then release them; allow a little more.
        let wait = self.grace + Duration::from_secs(5);
        let drain = async { while self.workers.join_next().await.is_some() {} };
        if tokio::time::timeout(wait, drain).await.is_err() {
            tracing::warn!("job workers did not stop in time; their leases will expire");
        }
        match self.server.await {
            Ok(r) => r.map_err(Into::into),
            Err(e) => Err(crate::Error::Config(format!(
                "HTTP server task failed: {e}"
            ))),
        }
    }
}

/// Binds the configured address.
pub async fn bind(config: &Config) -> Result<TcpListener> {
    let addr = std::net::SocketAddr::new(config.bind, config.port);
    TcpListener::bind(addr)
        .await
        .map_err(|e| crate::Error::Config(format!("cannot listen on {addr}: {e}")))
}
