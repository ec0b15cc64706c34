//! The answering agent: who the customer is across channels ([`identity`]), what Rapport
//! remembers about them ([`context`], memory updates), and how each message is answered or
//! handed to a human ([`agent`]), through a [`model::ChatModel`] — extractive by default, any
//! OpenAI-compatible server when configured.

pub mod actions;
pub mod agent;
pub mod answerability;
pub mod context;
pub mod copilot;
pub mod csat;
pub mod customer;
pub mod disclosure;
mod error;
pub mod facts;
pub mod guards;
pub mod identity;
mod inbox;
pub mod intents;
mod jobs;
pub mod language;
pub mod llm;
pub mod model;
pub mod prompts;
pub mod reply;
pub mod settings;

pub use agent::{
    Agent, AgentSettings, Decision, Inbound, MEMORY_JOB, REPLY_JOB, Received, ReplyOptions,
    ReplyOutcome,
};
pub use error::{Error, Result};
pub use jobs::{MemoryJob, ReplyJob, ReplyObserver, ReplyProgress, ReplyTo};
