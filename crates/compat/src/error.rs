//! The one error type of this crate, in the style of `hyper::Error`: an opaque struct whose
//! `is_*` predicates say what went wrong, so callers never match on a private enum.

use std::{error::Error as StdError, fmt, io};

type BoxError = Box<dyn StdError + Send + Sync>;

/// An error from a [`ResponseWriter`](crate::ResponseWriter): a hijack that cannot happen, or a
/// write that the state of the response forbids.
///
/// Writes report it wrapped in an [`io::Error`] (they go through `AsyncWrite`);
/// [`Error::from_io`] recovers it.
pub struct Error {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NotUpgradable,
    AlreadyHijacked,
    HeadCommitted,
    Hijacked,
    BodyNotAllowed,
    Upgrade,
    Closed,
    ContentLength,
    BodyUnread,
}

impl Error {
    fn new(kind: Kind) -> Self {
        Error { kind, source: None }
    }

    fn with<E: Into<BoxError>>(mut self, source: E) -> Self {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn not_upgradable() -> Self {
        Error::new(Kind::NotUpgradable)
    }

    pub(crate) fn already_hijacked() -> Self {
        Error::new(Kind::AlreadyHijacked)
    }

    pub(crate) fn head_committed() -> Self {
        Error::new(Kind::HeadCommitted)
    }

    pub(crate) fn hijacked() -> Self {
        Error::new(Kind::Hijacked)
    }

    pub(crate) fn body_not_allowed() -> Self {
        Error::new(Kind::BodyNotAllowed)
    }

    pub(crate) fn upgrade(source: hyper::Error) -> Self {
        Error::new(Kind::Upgrade).with(source)
    }

    pub(crate) fn closed() -> Self {
        Error::new(Kind::Closed)
    }

    pub(crate) fn content_length() -> Self {
        Error::new(Kind::ContentLength)
    }

    pub(crate) fn body_unread() -> Self {
        Error::new(Kind::BodyUnread)
    }

    /// The request cannot be hijacked: it carried no `Upgrade` header and was not a CONNECT, or
    /// the writer does not support hijacking at all (Go: the writer is not an `http.Hijacker`).
    pub fn is_not_upgradable(&self) -> bool {
        self.kind == Kind::NotUpgradable
    }

    /// `hijack` was called a second time.
    pub fn is_already_hijacked(&self) -> bool {
        self.kind == Kind::AlreadyHijacked
    }

    /// `hijack` was called after the response head or body had started.
    pub fn is_head_committed(&self) -> bool {
        self.kind == Kind::HeadCommitted
    }

    /// A write or flush on a writer whose connection was hijacked (Go's `http.ErrHijacked`).
    pub fn is_hijacked(&self) -> bool {
        self.kind == Kind::Hijacked
    }

    /// A body write on a response whose status forbids a body: 1xx, 204, 304
    /// (Go's `http.ErrBodyNotAllowed`).
    pub fn is_body_not_allowed(&self) -> bool {
        self.kind == Kind::BodyNotAllowed
    }

    /// hyper failed to hand over the upgraded connection.
    pub fn is_upgrade(&self) -> bool {
        self.kind == Kind::Upgrade
    }

    /// The client went away: the response can no longer be delivered.
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }

    /// A write past the `Content-Length` the handler declared (Go's `http.ErrContentLength`).
    pub fn is_content_length(&self) -> bool {
        self.kind == Kind::ContentLength
    }

    /// `hijack` on an HTTP/1 request whose body was not read: hyper hands over the connection
    /// only after the body, so the hijack is refused instead of stalling.
    pub fn is_body_unread(&self) -> bool {
        self.kind == Kind::BodyUnread
    }

    /// Finds this crate's error inside an [`io::Error`] returned by a writer's `poll_write`,
    /// `poll_flush` or `poll_shutdown`.
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref()?.downcast_ref()
    }

    fn description(&self) -> &'static str {
        match self.kind {
            Kind::NotUpgradable => {
                "connection cannot be hijacked: not an upgrade or CONNECT request"
            }
            Kind::AlreadyHijacked => "connection already hijacked",
            Kind::HeadCommitted => "cannot hijack: response already started",
            Kind::Hijacked => "connection has been hijacked",
            Kind::BodyNotAllowed => "request method or response status code does not allow body",
            Kind::Upgrade => "upgrade failed",
            Kind::Closed => "client closed the connection",
            Kind::ContentLength => "wrote more than the declared Content-Length",
            Kind::BodyUnread => "cannot hijack: the request body has not been read",
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("compat::Error");
        d.field(&self.kind);
        if let Some(source) = &self.source {
            d.field(source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("http: ")?;
        f.write_str(self.description())?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            Kind::Closed => io::ErrorKind::BrokenPipe,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_round_trip_through_io_error() {
        let io: io::Error = Error::hijacked().into();
        let back = Error::from_io(&io).expect("compat error inside");
        assert!(back.is_hijacked());
        assert!(!back.is_closed());
        assert_eq!(io.to_string(), "http: connection has been hijacked");
    }

    #[test]
    fn closed_maps_to_broken_pipe() {
        let io: io::Error = Error::closed().into();
        assert_eq!(io.kind(), io::ErrorKind::BrokenPipe);
    }
}
