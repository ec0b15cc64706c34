//! Actions (issue 17): HTTP calls an admin defines so the agent can look things up and get
//! things done for a verified customer — an order's status, a cancellation. This module holds
//! the parts that stand alone: the definition and its checks ([`definition`]), the sandboxed
//! templates ([`template`]), typed values out of a message ([`extract`]) and the guarded call
//! ([`call`]), who the customer is proven to be ([`proof`]) and what the agent says around an
//! action ([`phrases`]). The reply pipeline's act stage (`reply/act.rs`) puts them together;
//! [`catalog`] is what admins edit.

pub mod call;
pub mod catalog;
pub mod definition;
pub mod extract;
pub mod phrases;
pub mod proof;
pub mod template;

pub use definition::ActionDefinition;
