//! Act: when the customer needs something done with their own data — an order's status, a
//! cancellation — the agent runs one of the workspace's actions instead of searching the
//! knowledge. The stage carries an action across turns and channels (an input asked for, a
//! write to confirm, a code to type back), proves who the customer is before any account data
//! is read, and records every call. Nothing here runs while a person has the conversation:
//! the pipeline holds before it acts.

use chrono::{Duration, Utc};
use rapport_core::domain::{Author, Channel};
use rapport_core::ids::MessageId;
use rapport_privacy::identifiers::{self, IdentifierKind};
use rapport_store::actions::{ActionSession, NewActionCall, StoredAction};
use rapport_store::contacts::KeyKind;
use rapport_store::messages::NewReply;
use serde_json::{Map, Value, json};

use super::decide::Verdict;
use super::{Incoming, Understanding};
use crate::Result;
use crate::actions::call::{self, CallFailure};
use crate::actions::definition::{ActionDefinition, IdentityRequirement, InputKind, InputSource};
use crate::actions::phrases::{self, ActionPhrases};
use crate::actions::proof::{self, CodeAddress, CodePolicy, Proof, ProvenIdentity};
use crate::actions::{extract, template};
use crate::agent::{Agent, Decision};
use crate::guards::Trigger;
use crate::identity::{normalize_email, normalize_phone};
use crate::intents::IntentKind;
use crate::language::Language;
use crate::llm::Tool;
use crate::model::ToolRequest;

/// Similarity to one of an action's example messages from which the action is run.
const ACTION_SIMILARITY: f32 = 0.70;
/// Tool calls a model may make in one turn.
const MAX_TOOL_CALLS: usize = 3;
/// How long an action waits for the customer's next answer (an input, a yes, a code).
const SESSION_MINUTES: i64 = 30;

/// An enabled action with its definition read.
pub(crate) struct LoadedAction {
    pub stored: StoredAction,
    pub definition: ActionDefinition,
}

/// What an action waits for.
#[derive(Debug, Clone, PartialEq)]
enum Awaiting {
    Input(String),
    Confirm,
    Code,
}

impl Awaiting {
    fn parse(s: &str) -> Option<Awaiting> {
        match s {
            "confirm" => Some(Awaiting::Confirm),
            "code" => Some(Awaiting::Code),
            _ => s
                .strip_prefix("input:")
                .map(|n| Awaiting::Input(n.to_owned())),
        }
    }

    fn as_string(&self) -> String {
        match self {
            Awaiting::Input(n) => format!("input:{n}"),
            Awaiting::Confirm => "confirm".into(),
            Awaiting::Code => "code".into(),
        }
    }
}

/// One turn of one action: what the stage read once, and what it did, for the trace.
struct ActTurn<'a> {
    incoming: &'a Incoming,
    understood: &'a Understanding,
    action: &'a LoadedAction,
    lang: Language,
    phrases: &'static ActionPhrases,
    identity: Option<ProvenIdentity>,
    /// The reply goes through the outbox (not the playground or `rapport ask`).
    deliver: bool,
    /// The message was the code asked for: no input is read from it.
    consumed: bool,
    trace: Value,
}

impl ActTurn<'_> {
    fn text(&self) -> &str {
        &self.incoming.message.text
    }

    fn message_id(&self) -> MessageId {
        MessageId(self.incoming.message.id)
    }

    fn definition(&self) -> &ActionDefinition {
        &self.action.definition
    }

    fn name(&self) -> &str {
        &self.action.stored.name
    }

    /// The verdict of this turn, the action's trace on it.
    fn verdict(&self, decision: Decision, reason: impl Into<String>, text: String) -> Verdict {
        let mut trace = self.trace.clone();
        trace["identity"] = json!(self.identity.as_ref().map(|i| i.by));
        Verdict::acted(decision, reason.into(), text, self.lang, trace)
    }

    /// Reads every input the action can fill now, without asking.
    fn fill(&self, inputs: &mut Map<String, Value>) {
        let facts = &self.incoming.customer.customer.facts;
        for spec in &self.definition().inputs {
            if inputs.contains_key(&spec.name) {
                continue;
            }
            let from_fact = || {
                spec.fact
                    .as_deref()
                    .and_then(|key| facts.iter().find(|f| f.key == key))
                    .map(|f| f.value.clone())
            };
            let from_message = || {
                (!self.consumed)
                    .then(|| extract::value_in(spec, self.text(), false))
                    .flatten()
            };
            let identity = self.identity.as_ref();
            let value = match spec.source {
                InputSource::Message => from_message().or_else(from_fact),
                InputSource::Memory => from_fact().or_else(from_message),
                InputSource::Ask => None,
                InputSource::IdentityPhone => identity.and_then(|i| i.phone.clone()),
                InputSource::IdentityEmail => identity.and_then(|i| i.email.clone()),
                InputSource::IdentityUserId => identity.and_then(|i| i.user_id.clone()),
            };
            if let Some(v) = value {
                inputs.insert(spec.name.clone(), typed(spec.kind, v));
            }
        }
    }

    /// The template context: the inputs, who the customer is, and the answer once there.
    fn context(&self, inputs: &Map<String, Value>, response: Option<&Value>) -> Value {
        let mut ctx = inputs.clone();
        ctx.insert(
            "identity".into(),
            self.identity
                .as_ref()
                .map_or(Value::Null, ProvenIdentity::to_value),
        );
        ctx.insert(
            "customer".into(),
            json!({ "name": self.incoming.customer.customer.name }),
        );
        if let Some(r) = response {
            ctx.insert("response".into(), r.clone());
        }
        Value::Object(ctx)
    }

    /// The inputs as the audit keeps them: personal data redacted.
    fn redacted(&self, inputs: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        for spec in &self.definition().inputs {
            if let Some(v) = inputs.get(&spec.name) {
                let personal = spec.source.from_identity()
                    || matches!(spec.kind, InputKind::Email | InputKind::Phone);
                out.insert(
                    spec.name.clone(),
                    if personal {
                        json!("[redacted]")
                    } else {
                        v.clone()
                    },
                );
            }
        }
        Value::Object(out)
    }
}

/// A value as its kind is written into templates (a number stays a number in a JSON body).
fn typed(kind: InputKind, value: String) -> Value {
    if kind == InputKind::Number
        && let Ok(n) = value.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(n)
    {
        return Value::Number(n);
    }
    Value::String(value)
}

/// Hand-overs an action never pre-empts: the customer wants a person, is upset, is in
/// danger, or makes a legal request. A refund or a cancellation can be an action's job.
fn pressing(trigger: &Trigger) -> bool {
    match trigger {
        Trigger::HumanRequested | Trigger::Frustration | Trigger::ProblemPersists => true,
        Trigger::Intent(kind) => !matches!(
            kind,
            IntentKind::BillingDispute | IntentKind::Cancellation | IntentKind::Sales
        ),
        Trigger::Topic(_) => false,
    }
}

impl Agent {
    /// The act stage: continues the customer's action in progress, or starts the action the
    /// message asks for. `None`: no action is concerned, and the knowledge answers.
    pub(super) async fn act(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
        deliver: bool,
    ) -> Result<Option<Verdict>> {
        if understood.small_talk() || understood.trigger.as_ref().is_some_and(pressing) {
            return Ok(None);
        }
        let actions = self.enabled_actions(incoming).await?;
        if actions.is_empty() {
            return Ok(None);
        }
        let (ws, root) = (incoming.ws, incoming.root);
        if let Some(session) = self.store.action_session(ws, root).await? {
            match actions.iter().find(|a| a.stored.id == session.action_id) {
                Some(action) => {
                    let mut turn = self.act_turn(incoming, understood, action, deliver).await?;
                    if let Some(v) = self.resume(&mut turn, &session).await? {
                        return Ok(Some(v));
                    }
                }
                None => self.store.end_action_session(ws, root).await?,
            }
        }
        // A model that calls tools chooses the action itself; others match examples.
        if let Some(chosen) = self
            .act_with_tools(incoming, understood, &actions, deliver)
            .await?
        {
            return Ok(chosen);
        }
        let Some((action, example, score)) = self.matching_action(&actions, understood).await?
        else {
            return Ok(None);
        };
        let mut turn = self.act_turn(incoming, understood, action, deliver).await?;
        turn.trace["matched"] = json!({ "example": example, "score": score });
        self.pursue(&mut turn, Map::new(), None).await.map(Some)
    }

    async fn enabled_actions(&self, incoming: &Incoming) -> Result<Vec<LoadedAction>> {
        let stored = self.store.actions(incoming.ws).await?;
        Ok(stored
            .into_iter()
            .filter(|a| a.enabled)
            .filter_map(
                |stored| match ActionDefinition::from_value(&stored.definition) {
                    Ok(definition) => Some(LoadedAction { stored, definition }),
                    Err(e) => {
                        // Checked when saved; a document of an older shape is skipped, not fatal.
                        tracing::warn!(action = %stored.name, error = %e, "action skipped: unreadable");
                        None
                    }
                },
            )
            .collect())
    }

    async fn act_turn<'a>(
        &self,
        incoming: &'a Incoming,
        understood: &'a Understanding,
        action: &'a LoadedAction,
        deliver: bool,
    ) -> Result<ActTurn<'a>> {
        let identity = self
            .proof(incoming)
            .await?
            .identity(&incoming.message, incoming.channel)
            .await?;
        Ok(ActTurn {
            incoming,
            understood,
            action,
            lang: understood.language,
            phrases: phrases::phrases(understood.language),
            identity,
            deliver,
            consumed: false,
            trace: json!({ "id": action.stored.id, "name": action.stored.name }),
        })
    }

    async fn proof<'a>(&'a self, incoming: &Incoming) -> Result<Proof<'a>> {
        Ok(Proof {
            store: &self.store,
            ws: incoming.ws,
            root: incoming.root,
            cluster: self
                .store
                .contact_cluster(incoming.ws, incoming.root)
                .await?,
            policy: CodePolicy::with_verified_for(incoming.settings.verified_for),
        })
    }

    /// The action whose example messages the message is closest to, if close enough.
    async fn matching_action<'a>(
        &self,
        actions: &'a [LoadedAction],
        understood: &Understanding,
    ) -> Result<Option<(&'a LoadedAction, String, f32)>> {
        let examples: Vec<(usize, String)> = actions
            .iter()
            .enumerate()
            .flat_map(|(i, a)| {
                a.definition
                    .examples
                    .iter()
                    .filter(|e| !e.trim().is_empty())
                    .map(move |e| (i, e.clone()))
            })
            .collect();
        if examples.is_empty() {
            return Ok(None);
        }
        let texts: Vec<String> = examples.iter().map(|(_, e)| e.clone()).collect();
        let encoded = self.intents.encode_remembered(&texts).await?;
        let tuning = *self.intents.tuning();
        // "where is my order 4821? I'm jane@example.com" is "where is my order?": examples
        // carry no numbers or addresses, so the message is compared without them.
        let bare = without_identifiers(&understood.text);
        let bare_encoded = if bare == understood.text.trim() {
            None
        } else {
            Some(self.intents.encode(&bare).await?)
        };
        let message = bare_encoded.as_ref().unwrap_or(&understood.encoded);
        let best = examples
            .iter()
            .zip(&encoded)
            .map(|((i, e), v)| (*i, e, message.similarity(v, &tuning)))
            .max_by(|a, b| a.2.total_cmp(&b.2));
        Ok(best
            .filter(|(_, _, s)| *s >= ACTION_SIMILARITY)
            .map(|(i, e, s)| (&actions[i], e.clone(), s)))
    }

    /// The actions offered to the model as tools: it calls one (with arguments from what the
    /// customer said), the agent runs it as any other — identity, confirmation, audit — and the
    /// result goes back for the model to phrase, for at most [`MAX_TOOL_CALLS`] calls a turn.
    /// `None`: the model does not call tools (or failed), so examples decide; `Some(None)`: it
    /// called nothing, and the knowledge answers.
    async fn act_with_tools(
        &self,
        incoming: &Incoming,
        understood: &Understanding,
        actions: &[LoadedAction],
        deliver: bool,
    ) -> Result<Option<Option<Verdict>>> {
        let tools: Vec<Tool> = actions
            .iter()
            .map(|a| Tool {
                name: a.stored.name.clone(),
                description: tool_description(&a.definition),
                parameters: a.definition.parameters_schema(),
            })
            .collect();
        let mut exchange: Vec<Value> = Vec::new();
        let mut rounds: Vec<Value> = Vec::new();
        let mut last: Option<Verdict> = None;
        for round in 0..=MAX_TOOL_CALLS {
            let request = ToolRequest {
                question: &incoming.message.text,
                customer: &incoming.customer,
                persona: &incoming.settings.persona,
                language: understood.language,
                tools: &tools,
                exchange: &exchange,
            };
            let turn = match self.model.tool_turn(&request).await {
                Ok(Some(t)) => t.value,
                Ok(None) => return Ok(None),
                Err(e) if last.is_none() => {
                    tracing::warn!(error = %e, "the model could not choose an action; matching examples");
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let Some(call) = turn.calls.first().filter(|_| round < MAX_TOOL_CALLS) else {
                // The model's own words: nothing to do, or the last result phrased.
                return Ok(Some(last.map(|mut v| {
                    if !turn.text.trim().is_empty() {
                        v.text = turn.text.trim().to_owned();
                    }
                    if let Some(a) = v.action.as_mut() {
                        a["tool_rounds"] = json!(rounds);
                    }
                    v
                })));
            };
            exchange.push(
                json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}}]}),
            );
            let Some(action) = actions.iter().find(|a| a.stored.name == call.name) else {
                rounds.push(json!({"tool": call.name, "error": "unknown tool"}));
                exchange.push(tool_result(
                    &call.id,
                    json!({"error": "there is no such tool"}),
                ));
                continue;
            };
            let mut act = self.act_turn(incoming, understood, action, deliver).await?;
            let (inputs, invalid) = arguments_to_inputs(&action.definition, &call.arguments);
            act.trace["tool_call"] = json!({ "invalid_arguments": invalid });
            rounds.push(json!({"tool": call.name, "invalid_arguments": invalid}));
            let verdict = self.pursue(&mut act, inputs, None).await?;
            let done = verdict
                .action
                .as_ref()
                .is_some_and(|a| a["call"]["outcome"] == "ok");
            if !done {
                // A question, a confirmation, a code, a refusal or a failure: the agent's words.
                return Ok(Some(Some(verdict)));
            }
            exchange.push(tool_result(&call.id, json!({ "result": verdict.text })));
            last = Some(verdict);
        }
        Ok(Some(last))
    }

    /// The customer answers what the action waits for. `None`: they wrote about something
    /// else; the action keeps waiting and the message is answered as any other.
    async fn resume(
        &self,
        turn: &mut ActTurn<'_>,
        session: &ActionSession,
    ) -> Result<Option<Verdict>> {
        let mut inputs = session.inputs.as_object().cloned().unwrap_or_default();
        turn.trace["resumed"] = json!(session.awaiting);
        match Awaiting::parse(&session.awaiting) {
            Some(Awaiting::Confirm) => match extract::affirmation(turn.text()) {
                Some(true) => {
                    let by = turn.message_id();
                    Ok(Some(self.pursue(turn, inputs, Some(by)).await?))
                }
                Some(false) => Ok(Some(self.declined(turn, &inputs).await?)),
                None => Ok(None),
            },
            Some(Awaiting::Input(name)) => {
                let Some(spec) = turn.definition().inputs.iter().find(|i| i.name == name) else {
                    return Ok(None);
                };
                // A question in free text is a new question, not the value asked for.
                if spec.kind == InputKind::Text && turn.understood.asks {
                    return Ok(None);
                }
                match extract::value_in(spec, turn.text(), true) {
                    Some(v) => {
                        inputs.insert(spec.name.clone(), typed(spec.kind, v));
                        Ok(Some(self.pursue(turn, inputs, None).await?))
                    }
                    None => Ok(None),
                }
            }
            Some(Awaiting::Code) => match proof::typed_code(turn.text()) {
                Some(code) => Ok(Some(self.check_code(turn, inputs, &code).await?)),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Moves the action on as far as it can go this turn: proof of identity, inputs, the
    /// rate limit, confirmation of a write, then the call.
    async fn pursue(
        &self,
        turn: &mut ActTurn<'_>,
        mut inputs: Map<String, Value>,
        confirmed_by: Option<MessageId>,
    ) -> Result<Verdict> {
        let (ws, root) = (turn.incoming.ws, turn.incoming.root);
        let definition = turn.definition().clone();
        // What the message says is kept across the check of identity that may come first.
        turn.fill(&mut inputs);
        if definition.identity == IdentityRequirement::Verified && turn.identity.is_none() {
            return self.send_code(turn, inputs).await;
        }
        if self.names_someone_else(turn).await? {
            self.store.end_action_session(ws, root).await?;
            self.record(
                turn,
                &inputs,
                "refused",
                None,
                0,
                "asked about another customer",
                None,
            )
            .await?;
            turn.trace["step"] = json!("refused");
            let text = turn.phrases.someone_else.to_owned();
            return Ok(turn.verdict(
                Decision::Answered,
                "asked about another customer's data",
                text,
            ));
        }
        turn.fill(&mut inputs);
        turn.trace["inputs"] = turn.redacted(&inputs);
        if let Some(missing) = definition
            .inputs
            .iter()
            .find(|i| i.required && !inputs.contains_key(&i.name))
        {
            let question = missing
                .question
                .clone()
                .unwrap_or_else(|| format!("What is your {}?", missing.name.replace('_', " ")));
            self.wait_for(turn, &inputs, Awaiting::Input(missing.name.clone()))
                .await?;
            turn.trace["step"] = json!("asked");
            turn.trace["asked"] = json!(missing.name);
            return Ok(turn.verdict(Decision::Answered, "", question));
        }
        let hour_ago = Utc::now() - Duration::hours(1);
        let calls = self
            .store
            .count_action_calls(ws, root, turn.action.stored.id, hour_ago)
            .await?;
        if calls >= i64::from(definition.max_calls_per_hour) {
            self.store.end_action_session(ws, root).await?;
            turn.trace["step"] = json!("rate_limited");
            let reason = format!("action {} hit its limit of calls per hour", turn.name());
            let text = turn.phrases.rate_limited.to_owned();
            return Ok(turn.verdict(Decision::Escalated, reason, text));
        }
        if definition.writes && confirmed_by.is_none() {
            let ctx = turn.context(&inputs, None);
            let question = match &definition.confirm {
                Some(t) => template::render(t, &ctx, template::Escape::Text).ok(),
                None => None,
            }
            .unwrap_or_else(|| {
                let what = if definition.description.trim().is_empty() {
                    turn.name().replace('_', " ")
                } else {
                    definition.description.trim_end_matches('.').to_lowercase()
                };
                turn.phrases.confirm.replace("{action}", &what)
            });
            self.wait_for(turn, &inputs, Awaiting::Confirm).await?;
            turn.trace["step"] = json!("confirm");
            return Ok(turn.verdict(Decision::Answered, "", question));
        }
        self.store.end_action_session(ws, root).await?;
        self.run_action(turn, &inputs, confirmed_by).await
    }

    async fn wait_for(
        &self,
        turn: &ActTurn<'_>,
        inputs: &Map<String, Value>,
        awaiting: Awaiting,
    ) -> Result<()> {
        let expires = Utc::now() + Duration::minutes(SESSION_MINUTES);
        self.store
            .save_action_session(
                turn.incoming.ws,
                turn.incoming.root,
                turn.action.stored.id,
                &Value::Object(inputs.clone()),
                &awaiting.as_string(),
                expires,
            )
            .await?;
        Ok(())
    }

    async fn declined(
        &self,
        turn: &mut ActTurn<'_>,
        inputs: &Map<String, Value>,
    ) -> Result<Verdict> {
        self.store
            .end_action_session(turn.incoming.ws, turn.incoming.root)
            .await?;
        self.record(
            turn,
            inputs,
            "declined",
            None,
            0,
            "the customer said no",
            None,
        )
        .await?;
        turn.trace["step"] = json!("declined");
        let text = turn.phrases.declined.to_owned();
        Ok(turn.verdict(Decision::Answered, "", text))
    }

    /// The call itself, its reply, the facts it teaches, and its audit.
    async fn run_action(
        &self,
        turn: &mut ActTurn<'_>,
        inputs: &Map<String, Value>,
        confirmed_by: Option<MessageId>,
    ) -> Result<Verdict> {
        let definition = turn.definition().clone();
        let ctx = turn.context(inputs, None);
        let answer = match self.secrets_of(&turn.action.stored) {
            Ok(secrets) => match call::prepare(&definition, &secrets, &ctx) {
                Ok(prepared) => {
                    turn.trace["call"] = json!({
                        "method": prepared.method.as_str(),
                        "url": format!("{}{}", prepared.url.origin().ascii_serialization(), prepared.url.path()),
                    });
                    match &self.action_http {
                        Some(http) => http.send(&prepared).await,
                        None => Err(failure("network", "no HTTP client for actions")),
                    }
                }
                Err(f) => Err(f),
            },
            Err(e) => Err(failure("refused", &e)),
        };
        turn.trace["step"] = json!("called");
        turn.trace["confirmed_by"] = json!(confirmed_by.map(|m| m.0));
        let answer = match answer {
            Ok(a) => a,
            Err(f) => return self.action_failed(turn, inputs, f, confirmed_by).await,
        };
        turn.trace["call"]["status"] = json!(answer.status);
        turn.trace["call"]["latency_ms"] = json!(answer.latency_ms);
        let ctx = turn.context(inputs, Some(&answer.body));
        if let Some(owner) = &definition.owner {
            let whose = template::render(owner, &ctx, template::Escape::Text).unwrap_or_default();
            // The template may name several of the owner's handles: one proven is enough.
            let theirs = turn.identity.as_ref().is_some_and(|i| {
                whose
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|w| !w.is_empty() && *w != "none")
                    .any(|w| i.owns(w))
            });
            if !theirs {
                let summary = "the answer was about another customer: withheld";
                self.record(
                    turn,
                    inputs,
                    "refused",
                    Some(answer.status),
                    answer.latency_ms,
                    summary,
                    confirmed_by,
                )
                .await?;
                turn.trace["call"]["outcome"] = json!("refused");
                let text = turn.phrases.someone_else.to_owned();
                return Ok(turn.verdict(
                    Decision::Answered,
                    "asked about another customer's data",
                    text,
                ));
            }
        }
        let reply = match template::render(&definition.reply, &ctx, template::Escape::Text) {
            Ok(r) if !r.trim().is_empty() => r.trim().to_owned(),
            Ok(_) => {
                let f = failure("bad_response", "the reply template rendered nothing");
                return self.action_failed(turn, inputs, f, confirmed_by).await;
            }
            Err(e) => {
                let f = failure("bad_response", &format!("the reply template failed: {e}"));
                return self.action_failed(turn, inputs, f, confirmed_by).await;
            }
        };
        self.remember_action_facts(turn, inputs, &ctx).await?;
        let summary: String = reply.chars().take(200).collect();
        self.record(
            turn,
            inputs,
            "ok",
            Some(answer.status),
            answer.latency_ms,
            &summary,
            confirmed_by,
        )
        .await?;
        turn.trace["call"]["outcome"] = json!("ok");
        let text = match turn.trace.get("verified") {
            Some(_) => format!("{} {reply}", turn.phrases.verified),
            None => reply,
        };
        Ok(turn.verdict(Decision::Answered, "", text))
    }

    /// The API failed: the customer hears so honestly, and a person gets the failure.
    async fn action_failed(
        &self,
        turn: &mut ActTurn<'_>,
        inputs: &Map<String, Value>,
        f: CallFailure,
        confirmed_by: Option<MessageId>,
    ) -> Result<Verdict> {
        let outcome = match f.kind {
            "timeout" => "timeout",
            "refused" => "refused",
            _ => "failed",
        };
        self.record_call(
            turn,
            inputs,
            CallRecord {
                outcome,
                status: f.status,
                latency_ms: f.latency_ms,
                summary: "",
                error: Some(&f.message),
                confirmed_by,
            },
        )
        .await?;
        turn.trace["call"]["outcome"] = json!(outcome);
        turn.trace["call"]["error"] = json!(f.message);
        turn.trace["call"]["status"] = json!(f.status);
        turn.trace["call"]["latency_ms"] = json!(f.latency_ms);
        let reason = format!("action {} failed: {}", turn.name(), f.message);
        let text = turn.phrases.failed.to_owned();
        Ok(turn.verdict(Decision::Escalated, reason, text))
    }

    /// Facts the answer teaches, and the inputs kept as facts, on the customer's memory: the
    /// order number given on WhatsApp is there when they write by e-mail.
    async fn remember_action_facts(
        &self,
        turn: &ActTurn<'_>,
        inputs: &Map<String, Value>,
        ctx: &Value,
    ) -> Result<()> {
        let (ws, root) = (turn.incoming.ws, turn.incoming.root);
        let source = Some(turn.message_id());
        let mut facts: Vec<(String, String)> = Vec::new();
        for spec in &turn.definition().inputs {
            if let (Some(key), Some(v)) = (&spec.fact, inputs.get(&spec.name))
                && !spec.source.from_identity()
            {
                facts.push((key.clone(), value_text(v)));
            }
        }
        for f in &turn.definition().facts {
            if let Ok(v) = template::render(&f.value, ctx, template::Escape::Text)
                && !v.trim().is_empty()
            {
                facts.push((f.key.clone(), v.trim().to_owned()));
            }
        }
        for (key, value) in facts {
            self.store
                .remember_fact(ws, root, &key, &value, source)
                .await?;
        }
        Ok(())
    }

    fn secrets_of(&self, action: &StoredAction) -> std::result::Result<Value, String> {
        if action.secrets.is_null() {
            return Ok(json!({}));
        }
        self.sealer.open(&action.secrets)
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        turn: &ActTurn<'_>,
        inputs: &Map<String, Value>,
        outcome: &str,
        status: Option<u16>,
        latency_ms: u64,
        summary: &str,
        confirmed_by: Option<MessageId>,
    ) -> Result<()> {
        self.record_call(
            turn,
            inputs,
            CallRecord {
                outcome,
                status,
                latency_ms,
                summary,
                error: None,
                confirmed_by,
            },
        )
        .await
    }

    async fn record_call(
        &self,
        turn: &ActTurn<'_>,
        inputs: &Map<String, Value>,
        r: CallRecord<'_>,
    ) -> Result<()> {
        let incoming = turn.incoming;
        self.store
            .record_action_call(
                incoming.ws,
                &NewActionCall {
                    action_id: Some(turn.action.stored.id),
                    action_name: turn.name().to_owned(),
                    conversation_id: Some(incoming.conversation_id()),
                    message_id: Some(turn.message_id()),
                    contact_id: Some(incoming.root),
                    inputs: turn.redacted(inputs),
                    outcome: r.outcome.to_owned(),
                    http_status: r.status.map(i32::from),
                    latency_ms: r.latency_ms as i64,
                    summary: r.summary.to_owned(),
                    error: r.error.map(str::to_owned),
                    confirmed_by: r.confirmed_by,
                },
            )
            .await?;
        Ok(())
    }

    /// The message names an e-mail address or phone number that is not the customer's: one
    /// of another customer on file, or of a kind the customer proved a different one of.
    async fn names_someone_else(&self, turn: &ActTurn<'_>) -> Result<bool> {
        let Some(identity) = &turn.identity else {
            return Ok(false);
        };
        let incoming = turn.incoming;
        let named = addresses_in(turn.text(), &incoming.settings.default_region);
        if named.iter().all(|a| identity.owns(a.as_str())) {
            return Ok(false);
        }
        let cluster = self
            .store
            .contact_cluster(incoming.ws, incoming.root)
            .await?;
        for address in named.iter().filter(|a| !identity.owns(a.as_str())) {
            let (kind, proved_one) = match address {
                CodeAddress::Email(_) => (KeyKind::Email, identity.email.is_some()),
                CodeAddress::Phone(_) => (KeyKind::Phone, identity.phone.is_some()),
            };
            let holder = self
                .store
                .contact_by_key(incoming.ws, kind, address.as_str())
                .await?;
            if proved_one || holder.is_some_and(|c| !cluster.contains(&c)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The customer must prove who they are: a code goes to the address on file, never to
    /// one typed in the conversation, at most a few times in a while.
    async fn send_code(
        &self,
        turn: &mut ActTurn<'_>,
        inputs: Map<String, Value>,
    ) -> Result<Verdict> {
        let incoming = turn.incoming;
        let policy = CodePolicy::default();
        let proof = self.proof(incoming).await?;
        let named = named_addresses(incoming);
        let Some(address) = proof.code_address(&named).await? else {
            self.store
                .end_action_session(incoming.ws, incoming.root)
                .await?;
            turn.trace["step"] = json!("cannot_verify");
            let reason = format!(
                "action {} needs a verified customer, and none of their addresses is on file",
                turn.name()
            );
            let text = turn.phrases.cannot_verify.to_owned();
            return Ok(turn.verdict(Decision::Escalated, reason, text));
        };
        let sent = proof.verifications(Utc::now() - policy.window).await?;
        if sent.iter().filter(|v| v.verified_at.is_none()).count() >= policy.max_codes {
            self.store
                .end_action_session(incoming.ws, incoming.root)
                .await?;
            turn.trace["step"] = json!("code_throttled");
            let reason = "too many verification codes asked for".to_owned();
            let text = turn.phrases.code_locked.to_owned();
            return Ok(turn.verdict(Decision::Escalated, reason, text));
        }
        let code = proof::new_code();
        let hash = proof::code_hash(incoming.ws, incoming.root, &code);
        let expires = Utc::now() + policy.valid_for;
        self.store
            .add_verification(incoming.ws, incoming.root, &hash, address.as_str(), expires)
            .await?;
        self.deliver_code(turn, &address, &code).await?;
        self.wait_for(turn, &inputs, Awaiting::Code).await?;
        turn.trace["step"] = json!("code_sent");
        turn.trace["code_to"] = json!(address.masked());
        let text = turn.phrases.code_sent.replace("{to}", &address.masked());
        Ok(turn.verdict(Decision::Answered, "", text))
    }

    /// The code's own message, through the outbox, to the address on file. The customer's
    /// chat never shows it (a channel shows only its own messages); a test conversation keeps
    /// it undelivered and the trace shows the code to the tester.
    async fn deliver_code(
        &self,
        turn: &mut ActTurn<'_>,
        address: &CodeAddress,
        code: &str,
    ) -> Result<()> {
        let incoming = turn.incoming;
        let (channel, to) = match address {
            CodeAddress::Email(e) => (Channel::Email, e.clone()),
            CodeAddress::Phone(p) => (Channel::Whatsapp, p.trim_start_matches('+').to_owned()),
        };
        let deliver = turn.deliver;
        if !deliver {
            turn.trace["test_code"] = json!(code);
        }
        self.store
            .add_reply(
                incoming.ws,
                &NewReply {
                    conversation_id: incoming.conversation_id(),
                    contact_id: rapport_core::ids::ContactId(incoming.message.contact_id),
                    author: Author::System,
                    channel,
                    text: turn.phrases.code_message.replace("{code}", code),
                    citations: json!([]),
                    metadata: json!({ "kind": "verification_code", "to": to }),
                    deliver,
                },
            )
            .await?;
        Ok(())
    }

    /// A code typed back: right, it proves the customer and the action goes on; wrong, it
    /// counts against the code; too many wrong, a person takes over.
    async fn check_code(
        &self,
        turn: &mut ActTurn<'_>,
        inputs: Map<String, Value>,
        code: &str,
    ) -> Result<Verdict> {
        let incoming = turn.incoming;
        let proof = self.proof(incoming).await?;
        let policy = proof.policy;
        let now = Utc::now();
        let pending = proof
            .verifications(now - policy.valid_for)
            .await?
            .into_iter()
            .find(|v| {
                v.verified_at.is_none() && v.expires_at > now && v.attempts < policy.attempts
            });
        let Some(pending) = pending else {
            // Expired or spent: a fresh code, within the throttle.
            return self.send_code(turn, inputs).await;
        };
        if pending.code_hash == proof::code_hash(incoming.ws, incoming.root, code) {
            self.store
                .complete_verification(incoming.ws, pending.id, now + policy.verified_for)
                .await?;
            turn.identity = proof.identity(&incoming.message, incoming.channel).await?;
            turn.trace["verified"] = json!(true);
            turn.consumed = true;
            return self.pursue(turn, inputs, None).await;
        }
        self.store
            .count_verification_attempt(incoming.ws, pending.id)
            .await?;
        if pending.attempts + 1 >= policy.attempts {
            self.store
                .end_action_session(incoming.ws, incoming.root)
                .await?;
            turn.trace["step"] = json!("code_locked");
            let text = turn.phrases.code_locked.to_owned();
            return Ok(turn.verdict(
                Decision::Escalated,
                "too many wrong verification codes",
                text,
            ));
        }
        turn.trace["step"] = json!("wrong_code");
        let text = turn.phrases.wrong_code.to_owned();
        Ok(turn.verdict(Decision::Answered, "", text))
    }
}

struct CallRecord<'a> {
    outcome: &'a str,
    status: Option<u16>,
    latency_ms: u64,
    summary: &'a str,
    error: Option<&'a str>,
    confirmed_by: Option<MessageId>,
}

fn failure(kind: &'static str, message: &str) -> CallFailure {
    CallFailure {
        kind,
        message: message.to_owned(),
        status: None,
        latency_ms: 0,
    }
}

/// The message without the identifiers in it (order numbers, addresses, phones).
fn without_identifiers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for found in identifiers::find(text) {
        if found.span.start >= at {
            out.push_str(&text[at..found.span.start]);
            at = found.span.end;
        }
    }
    out.push_str(&text[at..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// E-mail addresses and phone numbers the customer wrote in this conversation, newest first.
fn named_addresses(incoming: &Incoming) -> Vec<CodeAddress> {
    let region = &incoming.settings.default_region;
    incoming
        .messages
        .iter()
        .rev()
        .filter(|m| m.author == "customer")
        .flat_map(|m| addresses_in(&m.text, region))
        .collect()
}

/// E-mail addresses and phone numbers in `text`, normalised.
fn addresses_in(text: &str, region: &str) -> Vec<CodeAddress> {
    identifiers::find(text)
        .into_iter()
        .filter_map(|found| match found.kind {
            IdentifierKind::Email => normalize_email(&found.text).map(CodeAddress::Email),
            IdentifierKind::Phone => normalize_phone(&found.text, region).map(CodeAddress::Phone),
            _ => None,
        })
        .collect()
}

/// What a model reads about an action: its description and when to use it.
fn tool_description(d: &ActionDefinition) -> String {
    let examples: Vec<&str> = d.examples.iter().take(5).map(String::as_str).collect();
    if examples.is_empty() {
        return d.description.clone();
    }
    format!(
        "{} Used when the customer says e.g.: {}",
        d.description,
        examples.join(" / ")
    )
}

fn tool_result(call_id: &str, content: Value) -> Value {
    json!({"role": "tool", "tool_call_id": call_id, "content": content.to_string()})
}

/// A model's arguments as the action's inputs: each checked as its kind (an order number must
/// look like one), identity inputs never taken. Returns the inputs and the names refused.
fn arguments_to_inputs(d: &ActionDefinition, arguments: &str) -> (Map<String, Value>, Vec<String>) {
    let given: Map<String, Value> = serde_json::from_str::<Value>(arguments)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let mut inputs = Map::new();
    let mut invalid = Vec::new();
    for (name, value) in &given {
        let Some(spec) = d
            .inputs
            .iter()
            .find(|i| &i.name == name && !i.source.from_identity())
        else {
            invalid.push(name.clone());
            continue;
        };
        match extract::value_in(spec, &value_text(value), true) {
            Some(v) => {
                inputs.insert(spec.name.clone(), typed(spec.kind, v));
            }
            None => invalid.push(name.clone()),
        }
    }
    if serde_json::from_str::<Value>(arguments).is_err() {
        invalid.push("(arguments are not JSON)".into());
    }
    (inputs, invalid)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_left_out_when_matching_examples() {
        assert_eq!(
            without_identifiers("where is my order 4821? I'm jane@example.com"),
            "where is my order ? I'm"
        );
        assert_eq!(
            without_identifiers("where is my order?"),
            "where is my order?"
        );
    }

    #[test]
    fn what_an_action_waits_for_reads_back() {
        for a in [
            Awaiting::Input("order_id".into()),
            Awaiting::Confirm,
            Awaiting::Code,
        ] {
            assert_eq!(Awaiting::parse(&a.as_string()), Some(a));
        }
        assert_eq!(Awaiting::parse("nonsense"), None);
    }

    #[test]
    fn an_action_never_pre_empts_a_request_for_a_person() {
        assert!(pressing(&Trigger::HumanRequested));
        assert!(pressing(&Trigger::Intent(IntentKind::AccountSecurity)));
        assert!(!pressing(&Trigger::Intent(IntentKind::Cancellation)));
        assert!(!pressing(&Trigger::Topic("orders".into())));
    }
}
