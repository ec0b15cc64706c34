//! The workspace's actions as admins edit them: checked before they are saved, secret header
//! values sealed beside the definition and never shown again, and the audit of their calls.

use chrono::{DateTime, Utc};
use rapport_core::ids::WorkspaceId;
use rapport_store::actions::{ActionCall, StoredAction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::definition::ActionDefinition;
use crate::agent::Agent;
use crate::{Error, Result};

/// What an admin sends to create or replace an action.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionInput {
    /// Letters, digits, `_` and `-` (it is also the tool's name for a language model).
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The [`ActionDefinition`]; a secret header's `value` is sealed and blanked.
    pub definition: Value,
}

fn yes() -> bool {
    true
}

/// An action as the API shows it: secret header values are never returned.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub definition: Value,
    /// Secret headers that have a saved value.
    pub secret_headers: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(stored: StoredAction, secrets: &Value) -> ActionView {
    let secret_headers = secrets["headers"]
        .as_object()
        .map(|h| h.keys().cloned().collect())
        .unwrap_or_default();
    ActionView {
        id: stored.id,
        name: stored.name,
        enabled: stored.enabled,
        definition: stored.definition,
        secret_headers,
        created_at: stored.created_at,
        updated_at: stored.updated_at,
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Agent {
    pub async fn list_actions(&self, ws: WorkspaceId) -> Result<Vec<ActionView>> {
        let stored = self.store.actions(ws).await?;
        let mut out = Vec::with_capacity(stored.len());
        for a in stored {
            let secrets = self.open_secrets(&a)?;
            out.push(view(a, &secrets));
        }
        Ok(out)
    }

    pub async fn get_action(&self, ws: WorkspaceId, id: i64) -> Result<ActionView> {
        let a = self.store.action(ws, id).await?;
        let secrets = self.open_secrets(&a)?;
        Ok(view(a, &secrets))
    }

    /// Checks and saves a new action.
    pub async fn create_action(&self, ws: WorkspaceId, input: ActionInput) -> Result<ActionView> {
        let (definition, secrets) = self.checked(&input, &json!({}))?;
        let sealed = self.sealer.seal(&secrets).map_err(Error::Invalid)?;
        let a = self
            .store
            .create_action(ws, input.name.trim(), input.enabled, &definition, &sealed)
            .await?;
        Ok(view(a, &secrets))
    }

    /// Replaces an action. A secret header sent without a value keeps the saved one.
    pub async fn update_action(
        &self,
        ws: WorkspaceId,
        id: i64,
        input: ActionInput,
    ) -> Result<ActionView> {
        let before = self.store.action(ws, id).await?;
        let kept = self.open_secrets(&before)?;
        let (definition, secrets) = self.checked(&input, &kept)?;
        let sealed = self.sealer.seal(&secrets).map_err(Error::Invalid)?;
        let a = self
            .store
            .update_action(
                ws,
                id,
                input.name.trim(),
                input.enabled,
                &definition,
                &sealed,
            )
            .await?;
        Ok(view(a, &secrets))
    }

    pub async fn delete_action(&self, ws: WorkspaceId, id: i64) -> Result<()> {
        Ok(self.store.delete_action(ws, id).await?)
    }

    /// The latest calls, newest first: of one action, or of all.
    pub async fn action_calls(
        &self,
        ws: WorkspaceId,
        action: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ActionCall>> {
        if let Some(id) = action {
            self.store.action(ws, id).await?;
        }
        Ok(self
            .store
            .recent_action_calls(ws, action, limit.clamp(1, 500))
            .await?)
    }

    /// The definition as stored (secret values blanked) and the secrets document, or every
    /// problem of the input in one error.
    fn checked(&self, input: &ActionInput, kept: &Value) -> Result<(Value, Value)> {
        let mut problems = Vec::new();
        if !valid_name(input.name.trim()) {
            problems.push("name: 1 to 64 letters, digits, _ or -".to_owned());
        }
        let mut definition =
            ActionDefinition::from_value(&input.definition).map_err(Error::Invalid)?;
        problems.extend(definition.validate());
        if !problems.is_empty() {
            return Err(Error::Invalid(problems.join("; ")));
        }
        let mut headers = Map::new();
        for h in definition.headers.iter_mut().filter(|h| h.secret) {
            let value = std::mem::take(&mut h.value);
            let saved = kept["headers"][&h.name].as_str().map(str::to_owned);
            match (value.is_empty(), saved) {
                (false, _) => {
                    headers.insert(h.name.clone(), json!(value));
                }
                (true, Some(s)) => {
                    headers.insert(h.name.clone(), json!(s));
                }
                (true, None) => {}
            }
        }
        Ok((definition.to_value(), json!({ "headers": headers })))
    }

    fn open_secrets(&self, a: &StoredAction) -> Result<Value> {
        if a.secrets.is_null() {
            return Ok(json!({}));
        }
        self.sealer.open(&a.secrets).map_err(Error::Invalid)
    }
}
