use thiserror::Error;

/// Why a piece of knowledge could not be read. Messages are shown to admins as the source's error.
#[derive(Debug, Error)]
pub enum Error {
    #[error("this {format} file cannot be read: {message}")]
    Malformed {
        format: &'static str,
        message: String,
    },
    #[error("this PDF is encrypted; upload an unprotected copy")]
    Encrypted,
    #[error("nothing to learn from this {what}")]
    Empty { what: &'static str },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
