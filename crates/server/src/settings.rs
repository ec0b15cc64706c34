//! The Settings page's server half: what an admin saves is checked, stored and applied while the
//! service runs. The agent reads its behaviour settings for each reply; what lives in this
//! process — channel credentials (webhook checks, senders, media downloads, the widget's
//! identity secret and name) and the model's tuning — is applied here, at start and on save.
//!
//! Channels and the model serve the default workspace (webhooks arrive there), so only its
//! admins change them; every workspace sets its own bot behaviour.

use std::sync::{Arc, RwLock};

use rapport_agent::settings::WorkspaceSettings;
use rapport_channels::email::EmailSender;
use rapport_channels::instagram::InstagramSender;
use rapport_channels::outbound::ChannelSender;
use rapport_channels::whatsapp::{MediaFetcher, WhatsappSender};
use rapport_core::ids::WorkspaceId;
use rapport_store::settings::StoredSettings;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::{Config, Secret};

/// Seals the saved secrets document with AES-256-GCM under a key from the environment
/// (`RAPPORT_SETTINGS_KEY`, any string; its SHA-256 is the key), so a copy of the database alone
/// does not give away channel tokens. Without a key the document is stored as it is, and the
/// server says so at start. A plain document written before a key was set is read as it is
/// and sealed on the next save.
#[derive(Clone, Default)]
pub struct SecretBox {
    key: Option<[u8; 32]>,
}

impl rapport_core::ports::Sealer for SecretBox {
    fn seal(&self, doc: &Value) -> Result<Value, String> {
        SecretBox::seal(self, doc)
    }
    fn open(&self, stored: &Value) -> Result<Value, String> {
        SecretBox::open(self, stored)
    }
}

/// Where a sealed document keeps its nonce and ciphertext (base64).
const SEALED: &str = "sealed";

impl SecretBox {
    pub fn new(passphrase: Option<&str>) -> Self {
        use sha2::Digest;
        SecretBox {
            key: passphrase
                .filter(|p| !p.is_empty())
                .map(|p| sha2::Sha256::digest(p.as_bytes()).into()),
        }
    }

    pub fn seals(&self) -> bool {
        self.key.is_some()
    }

    fn aead(&self) -> Option<ring::aead::LessSafeKey> {
        let key = self.key.as_ref()?;
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key)
            .ok()
            .map(ring::aead::LessSafeKey::new)
    }

    /// The document as it is stored: sealed when there is a key.
    pub fn seal(&self, doc: &Value) -> Result<Value, String> {
        use base64::Engine;
        let Some(key) = self.aead() else {
            return Ok(doc.clone());
        };
        let mut nonce = [0u8; 12];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| "no randomness for the secrets' nonce".to_owned())?;
        let mut data = serde_json::to_vec(doc).map_err(|e| e.to_string())?;
        key.seal_in_place_append_tag(
            ring::aead::Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::empty(),
            &mut data,
        )
        .map_err(|_| "the secrets could not be sealed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(json!({ SEALED: base64::engine::general_purpose::STANDARD.encode(out) }))
    }

    /// The document as saved: opened when sealed.
    pub fn open(&self, stored: &Value) -> Result<Value, String> {
        use base64::Engine;
        let Some(sealed) = stored.get(SEALED).and_then(Value::as_str) else {
            return Ok(stored.clone());
        };
        let key = self.aead().ok_or_else(|| {
            "the saved channel secrets are sealed; start with the RAPPORT_SETTINGS_KEY they were saved with"
                .to_owned()
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| "the sealed secrets are damaged".to_owned())?;
        if bytes.len() < 12 {
            return Err("the sealed secrets are damaged".into());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let mut data = ciphertext.to_vec();
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| "the sealed secrets are damaged".to_owned())?;
        let plain = key
            .open_in_place(nonce, ring::aead::Aad::empty(), &mut data)
            .map_err(|_| {
                "the saved channel secrets do not open with this RAPPORT_SETTINGS_KEY".to_owned()
            })?;
        serde_json::from_slice(plain).map_err(|e| e.to_string())
    }
}

/// The workspace whose settings configure channels and the model.
pub const CHANNELS_WORKSPACE: WorkspaceId = WorkspaceId::DEFAULT;

/// A channel credential an admin may save: its name, whether it is write-only, and where it
/// lives in the configuration.
pub struct Credential {
    pub name: &'static str,
    pub secret: bool,
    get: fn(&Config) -> Option<&str>,
    set: fn(&mut Config, String),
}

/// A credential kept in `config.secrets.$field`.
macro_rules! in_secrets {
    ($field:ident, secret: $secret:literal) => {
        Credential {
            name: stringify!($field),
            secret: $secret,
            get: |c| c.secrets.$field.as_ref().map(Secret::expose),
            set: |c, v| c.secrets.$field = Some(Secret::new(v)),
        }
    };
}

pub const CREDENTIALS: &[Credential] = &[
    in_secrets!(whatsapp_phone_number_id, secret: false),
    in_secrets!(whatsapp_access_token, secret: true),
    in_secrets!(whatsapp_app_secret, secret: true),
    in_secrets!(whatsapp_verify_token, secret: true),
    Credential {
        name: "instagram_account_id",
        secret: false,
        get: |c| Some(c.instagram.account_id.as_str()),
        set: |c, v| c.instagram.account_id = v,
    },
    in_secrets!(instagram_access_token, secret: true),
    in_secrets!(instagram_app_secret, secret: true),
    in_secrets!(instagram_verify_token, secret: true),
    Credential {
        name: "email_from",
        secret: false,
        get: |c| c.email.from.as_deref(),
        set: |c, v| c.email.from = Some(v),
    },
    in_secrets!(smtp_url, secret: true),
    in_secrets!(identity_secret, secret: true),
];

/// A saved credential's value, when it has one.
fn text_of(doc: &Value, name: &str) -> Option<String> {
    doc.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl Credential {
    /// The configured value (file and environment).
    fn configured(&self, config: &Config) -> Option<String> {
        (self.get)(config)
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    }
}

/// `config` with the saved credentials laid over it.
pub fn with_credentials(config: &Config, saved: &Value) -> Config {
    let mut c = config.clone();
    for credential in CREDENTIALS {
        if let Some(v) = text_of(saved, credential.name) {
            (credential.set)(&mut c, v);
        }
    }
    c
}

/// Why a save was refused.
#[derive(Debug)]
pub enum Refusal {
    /// The request names something that is not a setting.
    Unknown(String),
    /// The values cannot work; every problem, in words for the admin.
    Invalid(Vec<String>),
}

/// Why saving failed.
#[derive(Debug)]
pub enum SaveError {
    Refused(Refusal),
    Store(rapport_store::Error),
}

impl From<rapport_store::Error> for SaveError {
    fn from(e: rapport_store::Error) -> Self {
        SaveError::Store(e)
    }
}

/// A change to the settings, as the API takes it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// Replaces the bot's settings as a whole when present.
    #[schema(value_type = Object)]
    pub settings: Option<WorkspaceSettings>,
    /// Channel credentials to set (`null` or `""` removes the saved value, back to the
    /// configured one); names not given keep their value.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub credentials: Map<String, Value>,
}

/// The documents to store after `change`, or why not.
pub fn merge(
    ws: WorkspaceId,
    stored: &StoredSettings,
    change: SettingsChange,
) -> Result<(Value, Value), Refusal> {
    let settings = match change.settings {
        Some(s) => {
            let problems = s.problems();
            if !problems.is_empty() {
                return Err(Refusal::Invalid(problems));
            }
            if ws != CHANNELS_WORKSPACE && s.model.is_some() {
                return Err(Refusal::Invalid(vec![
                    "the model is set in the default workspace, which owns it".into(),
                ]));
            }
            serde_json::to_value(s).map_err(|e| Refusal::Invalid(vec![e.to_string()]))?
        }
        None => stored.settings.clone(),
    };
    let mut secrets = stored.secrets.as_object().cloned().unwrap_or_default();
    if !change.credentials.is_empty() && ws != CHANNELS_WORKSPACE {
        return Err(Refusal::Invalid(vec![
            "channels are connected in the default workspace, which receives their messages".into(),
        ]));
    }
    for (name, value) in change.credentials {
        if !CREDENTIALS.iter().any(|c| c.name == name) {
            return Err(Refusal::Unknown(format!(
                "\"{name}\" is not a channel credential"
            )));
        }
        match value {
            Value::Null => {
                secrets.remove(&name);
            }
            Value::String(v) if v.trim().is_empty() => {
                secrets.remove(&name);
            }
            Value::String(v) if v.len() > 4_096 => {
                return Err(Refusal::Invalid(vec![format!("{name} is too long")]));
            }
            Value::String(v) => {
                secrets.insert(name, Value::String(v.trim().to_owned()));
            }
            _ => {
                return Err(Refusal::Invalid(vec![format!("{name} must be text")]));
            }
        }
    }
    Ok((settings, Value::Object(secrets)))
}

/// What an admin sees: the saved settings, what applies when a field is unset, the visible
/// credentials and — for write-only ones — only whether they are set and where from.
pub fn view(
    ws: WorkspaceId,
    stored: &StoredSettings,
    config: &Config,
    defaults: &rapport_agent::AgentSettings,
    model: Option<&str>,
) -> Value {
    let saved: WorkspaceSettings =
        serde_json::from_value(stored.settings.clone()).unwrap_or_default();
    let mut credentials = Map::new();
    if ws == CHANNELS_WORKSPACE {
        for credential in CREDENTIALS {
            let saved_value = text_of(&stored.secrets, credential.name);
            let configured = credential.configured(config);
            let source = if saved_value.is_some() {
                "settings"
            } else if configured.is_some() {
                "configuration"
            } else {
                "unset"
            };
            let mut entry =
                json!({ "set": source != "unset", "source": source, "secret": credential.secret });
            if !credential.secret {
                entry["value"] = json!(saved_value.or(configured));
            }
            credentials.insert(credential.name.to_owned(), entry);
        }
    }
    json!({
        "workspace_id": ws.0,
        "settings": saved,
        "defaults": {
            "bot_name": defaults.persona.bot_name,
            "business_name": defaults.persona.business_name,
            "support_threshold": defaults.support_threshold,
            "escalate_when_unsure": defaults.escalate_when_unsure,
            "max_unhelpful_replies": defaults.max_unhelpful_replies,
            "handoff_topics": defaults.handoff_topics,
            "holding_replies": defaults.holding_replies,
            "model": model,
            "temperature": config.llm.temperature,
            "max_tokens": config.llm.max_tokens,
        },
        "owns_channels": ws == CHANNELS_WORKSPACE,
        "credentials": credentials,
        "updated_at": stored.updated_at,
        "updated_by": stored.updated_by,
    })
}

/// The configuration channels run with now, and the media client built from it; swapped as
/// one, so a reader never sees the new credentials with the old client.
pub struct LiveChannels {
    current: RwLock<(Arc<Config>, Option<Arc<MediaFetcher>>)>,
}

/// The senders and clients built from one configuration, ready to be swapped in.
pub struct ChannelClients {
    pub config: Arc<Config>,
    pub senders: Vec<Arc<dyn ChannelSender>>,
    /// Channels whose credentials are gone: their sender is removed.
    pub unconfigured: Vec<rapport_core::domain::Channel>,
    pub whatsapp_media: Option<Arc<MediaFetcher>>,
}

impl ChannelClients {
    /// Builds every credentialed channel client of `config`; an error names what is wrong.
    pub fn build(config: Config) -> Result<ChannelClients, Vec<String>> {
        use rapport_core::domain::Channel;
        let mut problems = Vec::new();
        let mut senders: Vec<Arc<dyn ChannelSender>> = Vec::new();
        let mut unconfigured = Vec::new();
        match config.whatsapp_sender() {
            Some(s) => match WhatsappSender::new(s) {
                Ok(sender) => senders.push(Arc::new(sender)),
                Err(e) => problems.push(format!("WhatsApp: {e}")),
            },
            None => unconfigured.push(Channel::Whatsapp),
        }
        match config.instagram_sender() {
            Some(s) => match InstagramSender::new(s) {
                Ok(sender) => senders.push(Arc::new(sender)),
                Err(e) => problems.push(format!("Instagram: {e}")),
            },
            None => unconfigured.push(Channel::Instagram),
        }
        match config.email_sender() {
            Ok(Some(s)) => match EmailSender::new(s) {
                Ok(sender) => senders.push(Arc::new(sender)),
                Err(e) => problems.push(format!("e-mail: {e}")),
            },
            Ok(None) => unconfigured.push(Channel::Email),
            Err(e) => problems.push(e.to_string()),
        }
        let whatsapp_media = match config.whatsapp_media() {
            Some(Ok(m)) => Some(Arc::new(m)),
            Some(Err(e)) => {
                problems.push(e.to_string());
                None
            }
            None => None,
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ChannelClients {
            config: Arc::new(config),
            senders,
            unconfigured,
            whatsapp_media,
        })
    }
}

impl LiveChannels {
    pub fn new(config: Arc<Config>, whatsapp_media: Option<Arc<MediaFetcher>>) -> Self {
        LiveChannels {
            current: RwLock::new((config, whatsapp_media)),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Arc<Config>, Option<Arc<MediaFetcher>>)> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configuration with the saved credentials: read it for channel secrets.
    pub fn config(&self) -> Arc<Config> {
        self.read().0.clone()
    }

    pub fn whatsapp_media(&self) -> Option<Arc<MediaFetcher>> {
        self.read().1.clone()
    }

    /// Swaps in what `clients` holds (the senders are swapped by the caller's outbox).
    pub fn replace(&self, clients: &ChannelClients) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            (clients.config.clone(), clients.whatsapp_media.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let doc = json!({ "whatsapp_access_token": "EAAG-secret" });
        let sealed = SecretBox::new(Some("key one")).seal(&doc).expect("sealed");
        assert!(!sealed.to_string().contains("EAAG"), "{sealed}");
        assert_eq!(
            SecretBox::new(Some("key one")).open(&sealed),
            Ok(doc.clone())
        );
        assert!(SecretBox::new(Some("key two")).open(&sealed).is_err());
        assert!(SecretBox::new(None).open(&sealed).is_err());
        // Without a key, or for a document saved before one was set, nothing is sealed.
        assert_eq!(SecretBox::new(None).seal(&doc), Ok(doc.clone()));
        assert_eq!(SecretBox::new(Some("key one")).open(&doc), Ok(doc));
    }

    #[test]
    fn credentials_merge_by_name_and_clear_with_null() {
        let stored = StoredSettings {
            secrets: json!({ "whatsapp_access_token": "old", "smtp_url": "smtp://x" }),
            ..StoredSettings::default()
        };
        let change: SettingsChange = serde_json::from_value(json!({
            "credentials": { "whatsapp_access_token": "new", "smtp_url": null }
        }))
        .expect("parses");
        let (_, secrets) = merge(CHANNELS_WORKSPACE, &stored, change).expect("merges");
        assert_eq!(secrets, json!({ "whatsapp_access_token": "new" }));
    }

    #[test]
    fn unknown_credentials_and_other_workspaces_channels_are_refused() {
        let stored = StoredSettings::default();
        let change: SettingsChange =
            serde_json::from_value(json!({ "credentials": { "password": "x" } })).expect("parses");
        assert!(matches!(
            merge(CHANNELS_WORKSPACE, &stored, change),
            Err(Refusal::Unknown(_))
        ));
        let change: SettingsChange =
            serde_json::from_value(json!({ "credentials": { "whatsapp_access_token": "x" } }))
                .expect("parses");
        assert!(matches!(
            merge(WorkspaceId(2), &stored, change),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn the_view_never_shows_a_secret() {
        let mut config = Config::default();
        config.secrets.whatsapp_app_secret = Some(Secret::new("from-env"));
        let stored = StoredSettings {
            secrets: json!({ "whatsapp_access_token": "saved-token", "whatsapp_phone_number_id": "1234" }),
            ..StoredSettings::default()
        };
        let v = view(
            CHANNELS_WORKSPACE,
            &stored,
            &config,
            &rapport_agent::AgentSettings::default(),
            None,
        );
        let text = v.to_string();
        assert!(
            !text.contains("saved-token") && !text.contains("from-env"),
            "{text}"
        );
        assert_eq!(
            v["credentials"]["whatsapp_access_token"]["source"],
            "settings"
        );
        assert_eq!(
            v["credentials"]["whatsapp_app_secret"]["source"],
            "configuration"
        );
        assert_eq!(
            v["credentials"]["whatsapp_phone_number_id"]["value"],
            "1234"
        );
        assert_eq!(v["credentials"]["smtp_url"]["set"], false);
    }
}
