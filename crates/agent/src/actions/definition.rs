//! What an admin writes to define an action: when to use it, the HTTP call, its inputs and
//! where each comes from, whether it writes, who it is for, and how the answer becomes a reply.
//! Checked once when saved ([`ActionDefinition::validate`]), so a broken template or a URL
//! whose host could be steered by a customer never reaches the pipeline.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

/// An action's full definition (the `definition` document the store keeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDefinition {
    /// What it does, in a sentence (offered to a language model as the tool's description).
    #[serde(default)]
    pub description: String,
    /// Messages a customer would write when they need it: "where is my order?".
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub method: HttpMethod,
    /// `https://shop.example/api/orders/{{ order_id }}?email={{ identity.email }}`. The scheme
    /// and host are literal; values are URL-encoded where they are put.
    pub url: String,
    #[serde(default)]
    pub headers: Vec<HeaderSpec>,
    /// A JSON body template: `{"reason": {{ reason }}}` (values are written as JSON).
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub inputs: Vec<InputSpec>,
    /// Changes something for the customer: runs only after they confirm in the conversation.
    #[serde(default)]
    pub writes: bool,
    /// The question a write asks first; `{{ order_id }}` and the other inputs are available.
    #[serde(default)]
    pub confirm: Option<String>,
    #[serde(default)]
    pub identity: IdentityRequirement,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// The reply, a template over the inputs and the JSON answer (`{{ response.status }}`).
    pub reply: String,
    /// Memory facts written from the answer: key and a template for the value.
    #[serde(default)]
    pub facts: Vec<FactSpec>,
    /// Whose data the answer is, a template over it (`{{ response.customer.email }}
    /// {{ response.customer.phone }}`; several handles may be named): when
    /// set, an answer that names anyone but the proven customer (e-mail, phone or user id) is
    /// withheld — the agent's own check, for an API that returns any order by its number.
    #[serde(default)]
    pub owner: Option<String>,
    /// Hosts the call may go to besides the URL's own (after rendering).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Lets the call reach loopback and private networks (a shop API on the same machine).
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// Calls per customer per hour.
    #[serde(default = "default_rate_per_hour")]
    pub max_calls_per_hour: u32,
}

fn default_timeout_ms() -> u64 {
    5_000
}

fn default_max_response_bytes() -> usize {
    256 * 1024
}

fn default_rate_per_hour() -> u32 {
    20
}

/// The longest an admin may let a customer wait on a remote API.
pub const MAX_TIMEOUT_MS: u64 = 30_000;
/// The largest answer an action may read.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_reqwest(self) -> reqwest::Method {
        match self {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        }
    }
}

/// One request header. A secret's value is write-only: the API never returns it, and the store
/// keeps it sealed beside the definition (`value` is then empty here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderSpec {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub secret: bool,
}

/// One value the call needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The name templates use: `order_id`.
    pub name: String,
    #[serde(default)]
    pub kind: InputKind,
    /// For `order_id`: the shape a value must have (a regular expression, whole match).
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub source: InputSource,
    /// What the agent asks when the value is missing: "What is your order number?".
    #[serde(default)]
    pub question: Option<String>,
    /// The memory fact it is read from and kept as, so a value given on one channel is used on
    /// another: "order number".
    #[serde(default)]
    pub fact: Option<String>,
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    #[default]
    Text,
    Number,
    Email,
    Phone,
    Date,
    /// An order, booking or ticket reference ("4821", "NH-121877").
    OrderId,
}

impl InputKind {
    fn json_type(self) -> &'static str {
        match self {
            InputKind::Number => "number",
            _ => "string",
        }
    }
}

/// Where an input's value comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputSource {
    /// The customer's message, else their memory (the fact), else asked for.
    #[default]
    Message,
    /// Their memory first, else the message, else asked for.
    Memory,
    /// Always asked for (a new delivery address).
    Ask,
    /// The phone number the channel or a verification proved — never one typed in a message.
    IdentityPhone,
    /// The e-mail address proven the same way.
    IdentityEmail,
    /// The business's own user id from a signed web-chat identity.
    IdentityUserId,
}

impl InputSource {
    pub fn from_identity(self) -> bool {
        matches!(
            self,
            InputSource::IdentityPhone | InputSource::IdentityEmail | InputSource::IdentityUserId
        )
    }
}

/// Who the action may run for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityRequirement {
    /// Anyone (a public lookup, say stock at a store).
    None,
    /// Only a customer whose identity is proven: by the channel (WhatsApp's number, a signed
    /// web-chat user, an API caller, an accepted e-mail sender) or by a one-time code.
    #[default]
    Verified,
}

/// A memory fact written from the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactSpec {
    pub key: String,
    /// `{{ response.status }}`.
    pub value: String,
}

impl ActionDefinition {
    /// Reads a stored or posted definition.
    pub fn from_value(value: &Value) -> Result<ActionDefinition, String> {
        serde_json::from_value(value.clone()).map_err(|e| format!("invalid action: {e}"))
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Every problem of the definition, worded for the admin who wrote it; empty when usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.base_url() {
            problems.push(e);
        }
        let env = super::template::environment();
        let mut templates: Vec<(&str, &str)> = vec![("url", &self.url), ("reply", &self.reply)];
        if let Some(b) = &self.body {
            templates.push(("body", b));
        }
        if let Some(c) = &self.confirm {
            templates.push(("confirm", c));
        }
        if let Some(o) = &self.owner {
            templates.push(("owner", o));
        }
        for f in &self.facts {
            templates.push(("fact", &f.value));
        }
        for h in &self.headers {
            templates.push(("header", &h.value));
        }
        for (what, source) in templates {
            if let Err(e) = env.template_from_str(source) {
                problems.push(format!("the {what} template does not parse: {e}"));
            }
        }
        if self.reply.trim().is_empty() {
            problems.push("the reply template is empty".into());
        }
        if self.writes && self.method == HttpMethod::Get {
            problems.push("an action that writes cannot use GET".into());
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            problems.push(format!("timeout_ms must be 1 to {MAX_TIMEOUT_MS}"));
        }
        if self.max_response_bytes == 0 || self.max_response_bytes > MAX_RESPONSE_BYTES {
            problems.push(format!(
                "max_response_bytes must be 1 to {MAX_RESPONSE_BYTES}"
            ));
        }
        let mut names = std::collections::HashSet::new();
        for input in &self.inputs {
            if !valid_name(&input.name) {
                problems.push(format!(
                    "input {:?}: names are letters, digits and _ (order_id)",
                    input.name
                ));
            }
            if !names.insert(input.name.as_str()) {
                problems.push(format!("input {:?} is listed twice", input.name));
            }
            if let Some(p) = &input.pattern
                && regex::Regex::new(p).is_err()
            {
                problems.push(format!(
                    "input {:?}: the pattern does not parse",
                    input.name
                ));
            }
            if input.source.from_identity() && self.identity == IdentityRequirement::None {
                problems.push(format!(
                    "input {:?} comes from the verified identity, so the action must require one",
                    input.name
                ));
            }
        }
        for h in &self.headers {
            if reqwest::header::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
                problems.push(format!("header {:?} is not a valid header name", h.name));
            }
        }
        problems
    }

    /// The URL's scheme and host, which must be written out, not templated: a customer's
    /// input can fill a path or a query, never choose the server.
    pub fn base_url(&self) -> Result<Url, String> {
        let head = self.url.split("{{").next().unwrap_or_default();
        let url = Url::parse(head).map_err(|_| {
            "the URL must start with http:// or https:// and a host written out".to_owned()
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the URL must be http:// or https://".into());
        }
        let after_host = head
            .split_once("://")
            .map(|(_, rest)| rest.contains('/') || rest.contains('?'))
            .unwrap_or(false);
        if url.host_str().is_none_or(str::is_empty) || (!after_host && head.len() < self.url.len())
        {
            return Err("the URL's host must be written out, not filled from a template".into());
        }
        Ok(url)
    }

    /// Hosts the rendered URL may name.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_lowercase())
            .collect();
        if let Ok(url) = self.base_url()
            && let Some(h) = url.host_str()
        {
            hosts.push(h.to_lowercase());
        }
        hosts
    }

    /// The inputs a language model may fill, as the JSON schema of a tool's parameters. Inputs
    /// from the verified identity are left out: a model never chooses whose data is read.
    pub fn parameters_schema(&self) -> Value {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for input in self.inputs.iter().filter(|i| !i.source.from_identity()) {
            let mut schema = json!({ "type": input.kind.json_type() });
            if let Some(q) = &input.question {
                schema["description"] = json!(q);
            }
            match input.kind {
                InputKind::Email => schema["format"] = json!("email"),
                InputKind::Date => schema["format"] = json!("date"),
                _ => {}
            }
            if let Some(p) = &input.pattern {
                schema["pattern"] = json!(p);
            }
            properties.insert(input.name.clone(), schema);
            if input.required {
                required.push(input.name.clone());
            }
        }
        json!({ "type": "object", "properties": properties, "required": required })
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !matches!(name, "identity" | "response" | "customer")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_status() -> ActionDefinition {
        ActionDefinition::from_value(&json!({
            "description": "Looks up the status of an order",
            "examples": ["where is my order?"],
            "url": "https://shop.example/api/orders/{{ order_id }}?phone={{ identity.phone }}",
            "inputs": [{"name": "order_id", "kind": "order_id", "question": "What is your order number?"}],
            "reply": "Order {{ order_id }} is {{ response.status }}."
        }))
        .expect("definition")
    }

    #[test]
    fn a_well_formed_definition_has_no_problems() {
        assert_eq!(order_status().validate(), Vec::<String>::new());
        assert_eq!(order_status().hosts(), vec!["shop.example"]);
    }

    #[test]
    fn a_templated_host_is_refused() {
        for url in [
            "https://{{ host }}/orders",
            "https://shop.example{{ suffix }}/orders",
            "{{ url }}",
            "ftp://shop.example/x",
        ] {
            let mut d = order_status();
            d.url = url.into();
            assert!(
                d.validate().iter().any(|p| p.contains("URL")),
                "{url}: {:?}",
                d.validate()
            );
        }
    }

    #[test]
    fn broken_templates_and_unsafe_settings_are_named() {
        let mut d = order_status();
        d.reply = "Order {{ order_id".into();
        d.writes = true;
        d.timeout_ms = 120_000;
        let problems = d.validate().join("\n");
        assert!(problems.contains("reply template"), "{problems}");
        assert!(problems.contains("GET"), "{problems}");
        assert!(problems.contains("timeout_ms"), "{problems}");
    }

    #[test]
    fn identity_inputs_are_never_offered_to_a_model() {
        let d = ActionDefinition::from_value(&json!({
            "url": "https://shop.example/orders?email={{ email }}&id={{ order_id }}",
            "inputs": [
                {"name": "order_id", "kind": "order_id", "pattern": "[0-9]{4,}"},
                {"name": "email", "kind": "email", "source": "identity_email"}
            ],
            "reply": "ok"
        }))
        .expect("definition");
        let schema = d.parameters_schema();
        assert!(schema["properties"]["order_id"].is_object());
        assert!(schema["properties"].get("email").is_none(), "{schema}");
        assert_eq!(schema["required"], json!(["order_id"]));
    }
}
