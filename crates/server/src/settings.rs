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

/// The workspace whose settings configure channels and the model.
pub const CHANNELS_WORKSPACE: WorkspaceId = WorkspaceId::DEFAULT;

/// Channel credentials an admin may save: name, and whether the value is write-only.
pub const CREDENTIALS: &[(&str, bool)] = &[
    ("whatsapp_phone_number_id", false),
    ("whatsapp_access_token", true),
    ("whatsapp_app_secret", true),
    ("whatsapp_verify_token", true),
    ("instagram_account_id", false),
    ("instagram_access_token", true),
    ("instagram_app_secret", true),
    ("instagram_verify_token", true),
    ("email_from", false),
    ("smtp_url", true),
    ("identity_secret", true),
];

fn is_credential(name: &str) -> bool {
    CREDENTIALS.iter().any(|(n, _)| *n == name)
}

/// A saved credential, or the configured one when none was saved.
fn text_of(doc: &Value, name: &str) -> Option<String> {
    doc.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The configured value of a credential (file and environment).
fn configured(config: &Config, name: &str) -> Option<String> {
    let secret = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
    let s = &config.secrets;
    match name {
        "whatsapp_phone_number_id" => secret(&s.whatsapp_phone_number_id),
        "whatsapp_access_token" => secret(&s.whatsapp_access_token),
        "whatsapp_app_secret" => secret(&s.whatsapp_app_secret),
        "whatsapp_verify_token" => secret(&s.whatsapp_verify_token),
        "instagram_account_id" => Some(config.instagram.account_id.clone()),
        "instagram_access_token" => secret(&s.instagram_access_token),
        "instagram_app_secret" => secret(&s.instagram_app_secret),
        "instagram_verify_token" => secret(&s.instagram_verify_token),
        "email_from" => config.email.from.clone(),
        "smtp_url" => secret(&s.smtp_url),
        "identity_secret" => secret(&s.identity_secret),
        _ => None,
    }
    .filter(|v| !v.trim().is_empty())
}

/// `config` with the saved credentials laid over it.
pub fn with_credentials(config: &Config, saved: &Value) -> Config {
    let mut c = config.clone();
    let s = &mut c.secrets;
    for (name, _) in CREDENTIALS {
        let Some(v) = text_of(saved, name) else {
            continue;
        };
        let secret = Some(Secret::new(v.clone()));
        match *name {
            "whatsapp_phone_number_id" => s.whatsapp_phone_number_id = secret,
            "whatsapp_access_token" => s.whatsapp_access_token = secret,
            "whatsapp_app_secret" => s.whatsapp_app_secret = secret,
            "whatsapp_verify_token" => s.whatsapp_verify_token = secret,
            "instagram_account_id" => c.instagram.account_id = v,
            "instagram_access_token" => s.instagram_access_token = secret,
            "instagram_app_secret" => s.instagram_app_secret = secret,
            "instagram_verify_token" => s.instagram_verify_token = secret,
            "email_from" => c.email.from = Some(v),
            "smtp_url" => s.smtp_url = secret,
            "identity_secret" => s.identity_secret = secret,
            _ => {}
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
        if !is_credential(&name) {
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
        for (name, secret) in CREDENTIALS {
            let saved_value = text_of(&stored.secrets, name);
            let source = if saved_value.is_some() {
                "settings"
            } else if configured(config, name).is_some() {
                "configuration"
            } else {
                "unset"
            };
            let mut entry = json!({ "set": source != "unset", "source": source, "secret": secret });
            if !secret {
                entry["value"] = json!(saved_value.or_else(|| configured(config, name)));
            }
            credentials.insert((*name).to_owned(), entry);
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

/// The configuration channels run with now, and what was built from it.
pub struct LiveChannels {
    config: RwLock<Arc<Config>>,
    whatsapp_media: RwLock<Option<Arc<MediaFetcher>>>,
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
            config: RwLock::new(config),
            whatsapp_media: RwLock::new(whatsapp_media),
        }
    }

    /// The configuration with the saved credentials: read it for channel secrets.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn whatsapp_media(&self) -> Option<Arc<MediaFetcher>> {
        match self.whatsapp_media.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in what `clients` holds (the senders are swapped by the caller's outbox).
    pub fn replace(&self, clients: &ChannelClients) {
        match self.config.write() {
            Ok(mut c) => *c = clients.config.clone(),
            Err(poisoned) => *poisoned.into_inner() = clients.config.clone(),
        }
        match self.whatsapp_media.write() {
            Ok(mut m) => *m = clients.whatsapp_media.clone(),
            Err(poisoned) => *poisoned.into_inner() = clients.whatsapp_media.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
