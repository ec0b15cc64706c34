//! The templates of an action, rendered in a sandbox: no loader (a template cannot include a
//! file), bounded work (fuel) and bounded output, strict about undefined values. The URL gets
//! its values percent-encoded and the body gets them as JSON, so a customer's input can never
//! add a query parameter or break out of a JSON string.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value as TemplateValue};
use serde_json::Value;

/// Template instructions one rendering may run: plenty for a reply, not for a loop bomb.
const FUEL: u64 = 50_000;
/// The longest a rendered template may be.
const MAX_RENDERED: usize = 16 * 1024;

/// How a template's values are written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Replies, confirmations, facts, headers: as they are.
    Text,
    /// The URL: every value percent-encoded.
    Url,
    /// A JSON body: every value as a JSON literal.
    Json,
}

pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
}

/// Renders `source` over `context`.
pub fn render(source: &str, context: &Value, escape: Escape) -> Result<String, String> {
    let mut env = environment();
    if escape == Escape::Json {
        env.set_auto_escape_callback(|_| AutoEscape::Json);
    }
    let context = match escape {
        Escape::Url => percent_encoded(context),
        _ => context.clone(),
    };
    let rendered = env
        .template_from_str(source)
        .and_then(|t| t.render(TemplateValue::from_serialize(&context)))
        .map_err(|e| e.to_string())?;
    if rendered.len() > MAX_RENDERED {
        return Err(format!(
            "the rendered template is over {MAX_RENDERED} bytes"
        ));
    }
    Ok(rendered)
}

/// The context with every string and number percent-encoded, for a URL.
fn percent_encoded(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(encode(s)),
        Value::Number(n) => Value::String(encode(&n.to_string())),
        Value::Array(items) => Value::Array(items.iter().map(percent_encoded).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), percent_encoded(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn url_values_cannot_add_parameters_or_path_segments() {
        let url = render(
            "https://shop.example/orders/{{ id }}?email={{ identity.email }}",
            &json!({"id": "48/../admin?x=1", "identity": {"email": "a+b@x.example"}}),
            Escape::Url,
        )
        .expect("rendered");
        assert_eq!(
            url,
            "https://shop.example/orders/48%2F..%2Fadmin%3Fx%3D1?email=a%2Bb%40x.example"
        );
    }

    #[test]
    fn body_values_are_json_literals() {
        let body = render(
            r#"{"order": {{ id }}, "address": {{ address }}}"#,
            &json!({"id": "4821", "address": "1 Main St\", \"admin\": true"}),
            Escape::Json,
        )
        .expect("rendered");
        let parsed: Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(parsed["address"], "1 Main St\", \"admin\": true");
        assert!(parsed.get("admin").is_none());
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let err = render(
            "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}",
            &json!({}),
            Escape::Text,
        )
        .expect_err("stopped");
        assert!(err.contains("fuel"), "{err}");
    }

    #[test]
    fn missing_fields_render_empty_rather_than_fail() {
        let reply = render(
            "Status: {{ response.order.status }}",
            &json!({"response": {}}),
            Escape::Text,
        )
        .expect("rendered");
        assert_eq!(reply, "Status: ");
    }
}
