//! Rapport's domain vocabulary and the ports the rest of the system plugs into.
//!
//! Everything here is plain data and traits: no database, no HTTP, no model runtime. The store,
//! index, embedder, agent and channel crates implement or use these types, so they can change
//! independently and the server wires them together.

pub mod domain;
mod error;
pub mod hours;
pub mod ids;
pub mod outbound;
pub mod ports;

pub use error::{Error, Result};
