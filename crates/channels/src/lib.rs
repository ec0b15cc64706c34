//! The channels customers write on: one module per channel that verifies a provider's request
//! and parses it into plain events, and sends our replies in the provider's wire format; plus
//! the outbox sender that delivers every outbound message through them.
//!
//! Parsing touches neither the database nor the network; storing and answering are the
//! caller's (the server hands parsed messages to the agent).

pub mod api;
pub mod email;
pub mod graph;
pub mod instagram;
pub mod outbound;
pub mod outbox;
pub mod web;
pub mod whatsapp;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The request is not signed by the provider (missing or wrong signature).
    #[error("signature: {0}")]
    Signature(&'static str),
    /// The body is not what the provider sends.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// A channel's settings cannot work (an SMTP URL or a From address that does not parse).
    #[error("configuration: {0}")]
    Config(String),
    /// A web-chat visitor token that is unknown or expired.
    #[error("the visitor session is unknown or has expired")]
    UnknownSession,
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
