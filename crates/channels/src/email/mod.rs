//! E-mail. Inbound mail reaches us as the raw message a provider's inbound webhook posts
//! (Mailgun routes: [`mailgun`]) and is read into an [`IncomingMail`] ([`parse()`]); the
//! customer's new words are told apart from the quoted thread and the signature ([`quotes`]).
//! Replies go out over SMTP ([`EmailSender`]) with the threading headers that keep the
//! customer's mail client, and our conversation, on one thread.
//!
//! Raw MIME rather than a provider's pre-parsed fields: nothing a provider drops on the way
//! (`References`, content ids, the exact quoted text) is lost, and any mail server that can
//! post a message could feed the same parser.

pub mod mailgun;
mod parse;
pub mod quotes;
mod send;

pub use parse::{
    AttachmentRef, IncomingMail, MAX_KEPT_BODY_BYTES, SenderCheck, normalize_message_id,
    normalize_subject, parse,
};
pub use send::{EmailSender, EmailSettings, message_id_for, reply_subject};
