//! Personal data in support text, found and removed by rules.
//!
//! Past conversations teach the bot general questions and answers; they must never teach it a
//! customer's name, order number or address, nor the name of the agent who answered. This crate
//! finds those ([`identifiers`], [`names`]) and replaces them with wording that still reads
//! ([`Redactor`]). It needs no model, so it runs whether or not a chat model is configured, and
//! before one ever sees the text.

pub mod identifiers;
pub mod names;
mod redact;

pub use identifiers::{Identifier, IdentifierKind};
pub use names::{PersonName, Role};
pub use redact::{Redacted, Redactor, Removed, Voice};
