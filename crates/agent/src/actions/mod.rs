//! Actions (issue 17): HTTP calls an admin defines so the agent can look things up and get
//! things done for a verified customer — an order's status, a cancellation. This module holds
//! the parts that stand alone: the definition and its checks ([`definition`]), the sandboxed
//! templates ([`template`]), typed values out of a message ([`extract`]) and the guarded call
//! ([`call`]). The reply pipeline's act stage is not wired yet.

pub mod call;
pub mod definition;
pub mod extract;
pub mod template;

pub use definition::ActionDefinition;
