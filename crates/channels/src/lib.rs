//! The channels customers write on: one module per channel that verifies a provider's request
//! and parses it into plain events. Storing, answering and sending are the caller's; nothing here
//! touches the database or the network.

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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
