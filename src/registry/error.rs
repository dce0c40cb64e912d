//! The registry boundary's error type. Every variant names the registry (or
//! layout) and the object concerned, so a denial message can say what failed.

/// Errors are `Clone` because one in-flight fetch may fail for many waiters.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("registry {registry}: {what} not found")]
    NotFound { registry: String, what: String },
    #[error("registry {registry}: authentication failed for {repository} ({detail})")]
    AuthFailed {
        registry: String,
        repository: String,
        detail: String,
    },
    #[error("registry {registry}: {what} does not match its digest (got {actual})")]
    DigestMismatch {
        registry: String,
        what: String,
        actual: String,
    },
    #[error("registry {registry}: {what} is larger than the {limit}-byte limit")]
    TooLarge {
        registry: String,
        what: String,
        limit: u64,
    },
    #[error("registry {registry}: {what}: {detail}")]
    Malformed {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("registry {registry}: {what}: HTTP {status}{detail}")]
    Http {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("registry {registry}: {what}: {detail}")]
    Transport {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("registry {registry}: {what}: no answer within {millis} ms")]
    Timeout {
        registry: String,
        what: String,
        millis: u64,
    },
    #[error("registry {registry} refused: {reason}")]
    Refused { registry: String, reason: String },
    #[error("registry {registry}: {what}: more than {limit} {unit}")]
    LimitExceeded {
        registry: String,
        what: String,
        limit: usize,
        unit: &'static str,
    },
    #[error("OCI layout {path}: {detail}")]
    Layout { path: String, detail: String },
}

impl RegistryError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryError::NotFound { .. } => "not_found",
            RegistryError::AuthFailed { .. } => "auth",
            RegistryError::DigestMismatch { .. } => "digest_mismatch",
            RegistryError::TooLarge { .. } => "too_large",
            RegistryError::Malformed { .. } => "malformed",
            RegistryError::Http { .. } => "http",
            RegistryError::Transport { .. } => "transport",
            RegistryError::Timeout { .. } => "timeout",
            RegistryError::Refused { .. } => "refused",
            RegistryError::LimitExceeded { .. } => "limit",
            RegistryError::Layout { .. } => "layout",
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }
}
