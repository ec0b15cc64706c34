//! `rapport ask`: one customer message through the whole pipeline — identity, memory, query
//! rewrite, retrieval, answer or escalation — against the configured data dir, printed as JSON
//! with its trace. The same identity flags reach the same contact across calls, so a
//! conversation that moves from WhatsApp to the web chat can be played from a shell.

use anyhow::Context;
use clap::Args;
use rapport_agent::identity::{IdentityClaim, SimulatedCustomer, simulated_claim};
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
pub type IdentityArgs = SimulatedCustomer;

pub fn parse_channel(text: &str) -> anyhow::Result<Channel> {
    match text.trim().to_lowercase().as_str() {
        "webchat" | "web_chat" | "web-chat" | "widget" => Ok(Channel::Web),
        other => other
            .parse()
            .map_err(|e| anyhow::anyhow!("--channel {other:?}: {e}")),
    }
}

/// The identity claim a channel would make for this customer (see
/// [`rapport_agent::identity::simulated_claim`]); web identities are signed with the local key
/// when no identity secret is configured.
pub fn claim_for(
    channel: Channel,
    id: &IdentityArgs,
    signed: bool,
    secret: Option<&str>,
    region: &str,
) -> anyhow::Result<IdentityClaim> {
    Ok(simulated_claim(
        channel,
        id,
        signed,
        secret.unwrap_or(LOCAL_IDENTITY_SECRET),
        region,
    )?)
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
