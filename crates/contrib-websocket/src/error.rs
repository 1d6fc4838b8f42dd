//! [`Error`]: why an upgrade failed.

use std::{borrow::Cow, error::Error as StdError, fmt};

use http::StatusCode;

/// **Deprecated:** the new path reports failures as [`websocket::Error`].
///
/// Why [`HertzUpgrader::upgrade`](crate::HertzUpgrader::upgrade) failed: Hertz's
/// `HandshakeError` for a request that fails one of Hertz's checks, or the new path's
/// [`websocket::Error`] when taking the connection over failed. The
/// [error hook](crate::HertzUpgrader::error) receives it along with the response status.
///
/// The `Display` text is Hertz's message, verbatim.
#[deprecated(
    note = "hertz-contrib/websocket is deprecated: use websocket::Upgrader through compat::handler; see MIGRATION.md"
)]
#[derive(Debug, Clone)]
pub struct Error {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// One of Hertz's checks failed (Go: `HandshakeError`).
    Handshake {
        status: StatusCode,
        message: Cow<'static, str>,
    },
    /// The checks passed, but the new path could not take the connection over.
    Upgrade(websocket::Error),
    /// The task running the upgrade ended without reporting (it panicked).
    Aborted,
}

impl Error {
    pub(crate) fn handshake(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            repr: Repr::Handshake {
                status,
                message: message.into(),
            },
        }
    }

    pub(crate) fn upgrade(err: websocket::Error) -> Self {
        Error {
            repr: Repr::Upgrade(err),
        }
    }

    pub(crate) fn aborted() -> Self {
        Error {
            repr: Repr::Aborted,
        }
    }

    /// Whether the request failed one of Hertz's handshake checks (Go: the error is a
    /// `HandshakeError`).
    pub fn is_handshake(&self) -> bool {
        matches!(self.repr, Repr::Handshake { .. })
    }

    /// The status of the error response: the failed check's, or `500 Internal Server Error`
    /// when taking the connection over failed.
    pub fn status(&self) -> StatusCode {
        match &self.repr {
            Repr::Handshake { status, .. } => *status,
            Repr::Upgrade(err) => err.status().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Repr::Aborted => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The new path's error, when the failure happened there (e.g.
    /// [`is_hijack`](websocket::Error::is_hijack) when the request cannot be upgraded).
    pub fn websocket_error(&self) -> Option<&websocket::Error> {
        match &self.repr {
            Repr::Upgrade(err) => Some(err),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Handshake { message, .. } => f.write_str(message),
            Repr::Upgrade(err) => err.fmt(f),
            Repr::Aborted => f.write_str("websocket: the upgrade task ended without a result"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.repr {
            Repr::Upgrade(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_error() {
        let err = Error::handshake(StatusCode::BAD_REQUEST, "websocket: nope");
        assert!(err.is_handshake());
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.to_string(), "websocket: nope");
        assert!(err.websocket_error().is_none());
        assert!(err.source().is_none());
    }

    #[test]
    fn aborted() {
        let err = Error::aborted();
        assert!(!err.is_handshake());
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(err.to_string().contains("ended without a result"));
    }
}
