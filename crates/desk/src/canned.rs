//! Canned replies: a team's stock answers, inserted with `/shortcut` in the reply box and
//! filled in for the conversation at hand. The body is a small template —
//! `{{contact.first_name}}`, `{{agent.name}}`, `{{facts.order_number}}`,
//! `{{conversation.channel}}` — rendered in a sandbox (no loader, bounded work), where a value
//! the customer does not have renders empty (`{{contact.name | default("there")}}` says what
//! to write instead).

use minijinja::{Environment, UndefinedBehavior};
use rapport_core::ids::{ConversationId, WorkspaceId};
use rapport_store::canned::{CannedReply, CannedText};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{AgentRef, Desk, Error, Result};

const MAX_SHORTCUT: usize = 32;
const MAX_TITLE: usize = 120;
const MAX_BODY: usize = 4_000;
/// Template instructions one rendering may run.
const FUEL: u64 = 20_000;

/// A canned reply as an agent writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct CannedInput {
    pub shortcut: String,
    pub title: String,
    pub body: String,
    /// Shared with the whole team (admins only) rather than the author's own.
    #[serde(default)]
    pub shared: bool,
}

/// A reply filled in for a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub id: i64,
    pub shortcut: String,
    pub text: String,
}

impl Desk {
    /// The replies the agent may insert, best match first.
    pub async fn canned_replies(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        query: &str,
    ) -> Result<Vec<CannedReply>> {
        let query = query.trim().trim_start_matches('/');
        Ok(self
            .store
            .canned_replies(ws, agent.user_id, query, 50)
            .await?)
    }

    pub async fn create_canned_reply(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        input: CannedInput,
    ) -> Result<CannedReply> {
        if input.shared && !agent.is_admin {
            return Err(Error::Forbidden(
                "only an admin can add a shared reply; leave `shared` off for your own".into(),
            ));
        }
        let text = checked(input.shortcut, input.title, input.body)?;
        let owner = (!input.shared).then_some(agent.user_id);
        Ok(self
            .store
            .create_canned_reply(ws, owner, agent.user_id, &text)
            .await?)
    }

    /// Replaces a reply's text; a shared reply is admins', a personal one its owner's.
    pub async fn update_canned_reply(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        id: i64,
        input: CannedInput,
    ) -> Result<CannedReply> {
        self.editable(ws, agent, id).await?;
        let text = checked(input.shortcut, input.title, input.body)?;
        Ok(self.store.update_canned_reply(ws, id, &text).await?)
    }

    pub async fn delete_canned_reply(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        id: i64,
    ) -> Result<()> {
        self.editable(ws, agent, id).await?;
        Ok(self.store.delete_canned_reply(ws, id).await?)
    }

    /// Fills the reply in for a conversation (or with the agent's values only, without one)
    /// and counts the use.
    pub async fn render_canned_reply(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        id: i64,
        conversation: Option<ConversationId>,
    ) -> Result<Rendered> {
        let reply = self.usable(ws, agent, id).await?;
        let context = self.template_context(ws, agent, conversation).await?;
        let text = render(&reply.body, &context).map_err(|e| Error::Invalid(vec![e]))?;
        self.store.count_canned_use(ws, id).await?;
        Ok(Rendered {
            id,
            shortcut: reply.shortcut,
            text,
        })
    }

    /// The values a canned reply can use: the customer (their whole cluster's facts), the
    /// agent and the conversation.
    async fn template_context(
        &self,
        ws: WorkspaceId,
        agent: &AgentRef,
        conversation: Option<ConversationId>,
    ) -> Result<Value> {
        let mut context = json!({ "agent": person(Some(&agent.name), Some(&agent.email), None) });
        let Some(conversation) = conversation else {
            return Ok(context);
        };
        let conversation = self.store.conversation(ws, conversation).await?;
        let root = self
            .store
            .root_contact(ws, rapport_core::ids::ContactId(conversation.contact_id))
            .await?;
        let contact = self.store.contact(ws, root).await?;
        let cluster = self.store.contact_cluster(ws, root).await?;
        // Newest first: the first value seen for a key is the one in force.
        let mut facts = Map::new();
        for fact in self.store.facts(ws, &cluster).await? {
            facts
                .entry(fact.key)
                .or_insert_with(|| Value::String(fact.value));
        }
        context["contact"] = person(
            contact.name.as_deref(),
            contact.email.as_deref(),
            contact.phone.as_deref(),
        );
        context["facts"] = Value::Object(facts);
        context["conversation"] = json!({ "id": conversation.id, "channel": conversation.channel });
        Ok(context)
    }

    async fn usable(&self, ws: WorkspaceId, agent: &AgentRef, id: i64) -> Result<CannedReply> {
        let reply = self.store.canned_reply(ws, id).await?;
        match reply.owner_id {
            Some(owner) if owner != agent.user_id => Err(not_found(id)),
            _ => Ok(reply),
        }
    }

    async fn editable(&self, ws: WorkspaceId, agent: &AgentRef, id: i64) -> Result<CannedReply> {
        let reply = self.usable(ws, agent, id).await?;
        if reply.owner_id.is_none() && !agent.is_admin {
            return Err(Error::Forbidden(
                "shared replies are edited by admins".into(),
            ));
        }
        Ok(reply)
    }
}

/// Someone else's personal reply is not there for this agent.
fn not_found(id: i64) -> Error {
    Error::Store(rapport_store::Error::NotFound {
        what: "canned reply",
        id,
    })
}

/// A person's values; one they do not have is left out, so it is undefined in a template
/// (renders empty, or its `default`) rather than the word "none".
fn person(name: Option<&str>, email: Option<&str>, phone: Option<&str>) -> Value {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let values = [
        ("name", name),
        ("first_name", name.and_then(|n| n.split_whitespace().next())),
        ("email", email),
        ("phone", phone),
    ];
    Value::Object(
        values
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), Value::String(v.to_owned()))))
            .collect(),
    )
}

/// Every problem of a reply's text, or the trimmed text.
fn checked(shortcut: String, title: String, body: String) -> Result<CannedText> {
    let shortcut = shortcut.trim().trim_start_matches('/').to_lowercase();
    let (title, body) = (title.trim().to_owned(), body.trim().to_owned());
    let mut problems = Vec::new();
    if shortcut.is_empty()
        || shortcut.chars().count() > MAX_SHORTCUT
        || !shortcut
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    {
        problems.push(format!(
            "shortcut: 1 to {MAX_SHORTCUT} letters, digits, '-' or '_' (typed after '/')"
        ));
    }
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        problems.push(format!("title: 1 to {MAX_TITLE} characters"));
    }
    if body.is_empty() || body.chars().count() > MAX_BODY {
        problems.push(format!("body: 1 to {MAX_BODY} characters"));
    } else if let Err(e) = environment().template_from_str(&body) {
        problems.push(format!("body: the template does not parse: {e}"));
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    Ok(CannedText {
        shortcut,
        title,
        body,
    })
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    // Replies are plain text: nothing is HTML-escaped.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Renders a reply's body over its values.
pub fn render(body: &str, context: &Value) -> std::result::Result<String, String> {
    let env = environment();
    let template = env.template_from_str(body).map_err(|e| e.to_string())?;
    let text = template
        .render(minijinja::Value::from_serialize(context))
        .map_err(|e| format!("the reply could not be filled in: {e}"))?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_render_empty_or_their_default() {
        let context = json!({"contact": person(None, None, None), "agent": person(Some("Priya Shah"), None, None), "facts": {}});
        assert_eq!(
            render(
                "Hi {{ contact.first_name | default(\"there\") }}, {{ agent.first_name }} here. {{ facts.order_number }}",
                &context
            )
            .unwrap(),
            "Hi there, Priya here."
        );
    }

    #[test]
    fn a_loop_bomb_runs_out_of_fuel() {
        let bomb = "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}";
        assert!(render(bomb, &json!({})).is_err());
    }

    #[test]
    fn shortcuts_are_words_typed_after_a_slash() {
        assert_eq!(
            checked("/Refund".into(), "Refund".into(), "Done".into())
                .unwrap()
                .shortcut,
            "refund"
        );
        let Err(Error::Invalid(problems)) = checked("two words".into(), "".into(), "{{".into())
        else {
            panic!("accepted")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
