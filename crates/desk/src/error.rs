use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] rapport_store::Error),
    /// What was sent cannot be saved; every problem, one per entry.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The caller may not do this (an agent editing a shared reply, someone else's reply).
    #[error("{0}")]
    Forbidden(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
