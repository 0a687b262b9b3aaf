//! The two ways a template fails, each carrying the full message in Go's format so that
//! users see what Prometheus and Alertmanager would have told them.

/// A template that does not parse: `template: NAME:LINE: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub(crate) message: String,
}

impl ParseError {
    /// The whole message, as Go formats it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A template that failed while executing:
/// `template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    pub(crate) name: String,
    pub(crate) message: String,
}

impl ExecError {
    /// The template that was executing when the error happened.
    pub fn template_name(&self) -> &str {
        &self.name
    }

    /// The whole message, as Go formats it.
    pub fn message(&self) -> &str {
        &self.message
    }
}
