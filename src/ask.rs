//! `rapport ask`: one customer message through the whole pipeline — identity, memory, query
//! rewrite, retrieval, answer or escalation — against the configured data dir, printed as JSON
//! with its trace. The same identity flags reach the same contact across calls, so a
//! conversation that moves from WhatsApp to the web chat can be played from a shell.

use anyhow::{Context, bail};
use clap::Args;
use rapport_agent::identity::{IdentityClaim, SignedIdentity, normalize_email, normalize_phone};
use rapport_agent::{Inbound, ReplyOptions};
use rapport_core::domain::Channel;
use rapport_core::ids::WorkspaceId;
use rapport_server::{App, Config};
use serde_json::json;

/// Signs web-chat identities when no `RAPPORT_IDENTITY_SECRET` is configured: the CLI and the
/// evaluations play the business's own site, which is what signing stands for.
const LOCAL_IDENTITY_SECRET: &str = "rapport-local-identity-secret";

#[derive(Args)]
pub struct AskArgs {
    /// whatsapp, instagram, webchat (or web), email, api.
    #[arg(long, default_value = "webchat")]
    pub channel: String,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub instagram_id: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Web chat: the site signs the phone/e-mail (HMAC with the identity secret), so they merge.
    #[arg(long)]
    pub signed: bool,
    /// Print the answer text as it is generated (to stderr) before the JSON.
    #[arg(long)]
    pub stream: bool,
    pub text: String,
}

/// Who a customer is, as a scenario or the command line describes them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct IdentityArgs {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub instagram_id: Option<String>,
    pub name: Option<String>,
}

pub fn parse_channel(text: &str) -> anyhow::Result<Channel> {
    match text.trim().to_lowercase().as_str() {
        "webchat" | "web_chat" | "web-chat" | "widget" => Ok(Channel::Web),
        other => other
            .parse()
            .map_err(|e| anyhow::anyhow!("--channel {other:?}: {e}")),
    }
}

/// The identity claim a channel would make for this customer. WhatsApp proves the phone, the
/// e-mail channel the sender's address, a signed web identity what it signs; an unsigned web
/// visitor is known only by its visitor id (stable for the same flags).
pub fn claim_for(
    channel: Channel,
    id: &IdentityArgs,
    signed: bool,
    secret: Option<&str>,
    region: &str,
) -> anyhow::Result<IdentityClaim> {
    let mut claim = IdentityClaim {
        channel: Some(channel),
        name: id.name.clone(),
        ..IdentityClaim::default()
    };
    match channel {
        Channel::Whatsapp => {
            let phone = id.phone.as_deref().context("WhatsApp needs --phone")?;
            let e164 = normalize_phone(phone, region)
                .with_context(|| format!("{phone:?} is not a valid phone number"))?;
            claim.external_id = e164.trim_start_matches('+').to_owned();
            claim.verified_phone = Some(e164);
        }
        Channel::Email => {
            let email = id.email.as_deref().context("email needs --email")?;
            let email = normalize_email(email)
                .with_context(|| format!("{email:?} is not an e-mail address"))?;
            claim.external_id = email.clone();
            claim.verified_email = Some(email);
        }
        Channel::Instagram => {
            claim.external_id = id
                .instagram_id
                .clone()
                .context("Instagram needs --instagram-id")?;
        }
        Channel::Web | Channel::Api => {
            let key = [&id.email, &id.phone, &id.instagram_id, &id.name]
                .into_iter()
                .flatten()
                .map(|s| s.trim().to_lowercase())
                .collect::<Vec<_>>()
                .join("|");
            if signed {
                let secret = secret.unwrap_or(LOCAL_IDENTITY_SECRET);
                let user = key.clone();
                let identity = SignedIdentity::sign(
                    secret,
                    Some(&user),
                    id.email.as_deref(),
                    id.phone.as_deref(),
                );
                identity.verify(secret)?;
                claim.external_id = format!("user:{user}");
                claim.verified_email = identity.email;
                claim.verified_phone = identity.phone;
            } else {
                claim.external_id = format!("visitor:{key}");
                claim.email_hint = id.email.clone();
                claim.phone_hint = id.phone.clone();
            }
            if key.is_empty() {
                bail!("give the customer an identity: --phone, --email or --name");
            }
        }
    }
    Ok(claim)
}

pub async fn run(args: AskArgs, config: Config) -> anyhow::Result<()> {
    let channel = parse_channel(&args.channel)?;
    let identity = IdentityArgs {
        phone: args.phone,
        email: args.email,
        instagram_id: args.instagram_id,
        name: args.name,
    };
    let secret = config
        .secrets
        .identity_secret
        .as_ref()
        .map(|s| s.expose().to_owned());
    let region = config.agent.default_region.clone();
    let claim = claim_for(channel, &identity, args.signed, secret.as_deref(), &region)?;
    let mut config = config;
    // Only the asking runs: queued work (syncs, memory updates) belongs to `serve`.
    config.jobs.workers = 0;
    let app = App::build(config)
        .await
        .context("could not start the pipeline")?;
    let inbound = Inbound {
        claim,
        kind: "text".into(),
        text: args.text,
        ..Inbound::default()
    };
    let mut print = |delta: &str| eprint!("{delta}");
    let options = ReplyOptions {
        deliver: false,
        on_delta: if args.stream { Some(&mut print) } else { None },
    };
    let (received, outcome) = app
        .agent
        .ask(WorkspaceId::DEFAULT, &inbound, options)
        .await?;
    if args.stream {
        eprintln!();
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "contact_id": received.contact_id,
            "conversation_id": received.conversation_id,
            "decision": outcome.decision,
            "reason": outcome.reason,
            "reply": outcome.reply,
            "escalation_id": outcome.escalation_id,
            "trace": outcome.trace,
        }))?
    );
    Ok(())
}
