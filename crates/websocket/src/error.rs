//! The crate's error type.
//!
//! gorilla reports failures through several types and sentinel values
//! (`*CloseError`, `HandshakeError`, `ErrCloseSent`, `ErrReadLimit`,
//! `ErrBadHandshake`, raw `net` errors). Here they are one opaque [`Error`]
//! with `is_*` predicates, in the style of hyper's `Error`, so callers match on
//! meaning while the representation stays free to change. The `Display` text
//! is gorilla's wherever gorilla has one, so log output reads the same after a
//! port.
//!
//! A connection's failures are permanent: after the first one, every read (or
//! write) returns the same error again, as gorilla documents. The error is
//! therefore a shared pointer, and cloning it is a reference-count increment.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::close::{CloseCode, CloseError};

type Cause = Box<dyn StdError + Send + Sync>;

/// Errors from upgrading, reading and writing WebSocket connections.
///
/// Use the `is_*` methods to tell the cases apart. A close message from the
/// peer (or a connection that ended without one) is available as a
/// [`CloseError`] through [`close_error`](Self::close_error); see also
/// [`is_close_error`] and [`is_unexpected_close_error`].
///
/// Cloning is cheap: clones share one allocation.
#[derive(Clone)]
pub struct Error {
    inner: Arc<ErrorImpl>,
}

struct ErrorImpl {
    kind: Kind,
    cause: Option<Cause>,
}

#[derive(Debug)]
enum Kind {
    /// The underlying connection failed.
    Io,
    /// The peer broke RFC 6455; our close frame carries `code`.
    Protocol {
        code: CloseCode,
        reason: &'static str,
    },
    /// A message exceeded the read limit.
    ReadLimit,
    /// A write after our close frame was sent.
    CloseSent,
    /// The application closed the connection (`Conn::close`).
    LocalClosed,
    /// The application passed an argument the operation cannot accept.
    InvalidArgument { reason: &'static str },
    /// The peer sent a close frame, or the connection ended without one.
    Closed(CloseError),
    /// A read or write deadline passed.
    Timeout,
    /// The server rejected an upgrade request and answered with `status`.
    Handshake { status: StatusCode, reason: String },
    /// The client got an unacceptable handshake response; `response` is
    /// that response (boxed: it is large and the kind is rare) when one was
    /// read.
    BadHandshake {
        reason: String,
        response: Option<Box<Response<Bytes>>>,
    },
    /// A value could not be encoded or decoded as JSON.
    Json,
    /// Taking over the HTTP connection failed.
    Hijack,
}

impl Error {
    fn new(kind: Kind, cause: Option<Cause>) -> Self {
        Error {
            inner: Arc::new(ErrorImpl { kind, cause }),
        }
    }

    fn kind(&self) -> &Kind {
        &self.inner.kind
    }

    /// An I/O error on the underlying connection.
    pub(crate) fn io(err: io::Error) -> Self {
        Self::new(Kind::Io, Some(Box::new(err)))
    }

    /// A protocol violation by the peer; the reader answers it with a close
    /// frame carrying `code`. `reason` completes gorilla's message
    /// `websocket: <reason>`.
    pub(crate) fn protocol(code: CloseCode, reason: &'static str) -> Self {
        Self::new(Kind::Protocol { code, reason }, None)
    }

    /// gorilla's `ErrReadLimit`: a message was larger than the read limit.
    pub(crate) fn read_limit() -> Self {
        Self::new(Kind::ReadLimit, None)
    }

    /// gorilla's `ErrCloseSent`: a write after our close message.
    pub(crate) fn close_sent() -> Self {
        Self::new(Kind::CloseSent, None)
    }

    /// The connection was closed on this side (`Conn::close`) while, or
    /// before, the operation ran. Go reports this as `net.ErrClosed`.
    pub(crate) fn local_closed() -> Self {
        Self::new(Kind::LocalClosed, None)
    }

    /// The application misused the API (gorilla's `errBadWriteOpCode`,
    /// `errInvalidControlFrame`). `reason` completes `websocket: <reason>`.
    pub(crate) fn invalid_argument(reason: &'static str) -> Self {
        Self::new(Kind::InvalidArgument { reason }, None)
    }

    /// The peer sent a close message.
    pub(crate) fn closed(close: CloseError) -> Self {
        Self::new(Kind::Closed(close), None)
    }

    /// The connection ended (EOF or reset) without a close message.
    ///
    /// gorilla turns an unexpected EOF into
    /// `&CloseError{Code: CloseAbnormalClosure, Text: "unexpected EOF"}`, so
    /// `IsUnexpectedCloseError` catches a peer that vanished; this keeps that
    /// close code and text.
    pub(crate) fn connection_closed() -> Self {
        Self::closed(CloseError {
            code: CloseCode::ABNORMAL_CLOSURE,
            text: String::from("unexpected EOF"),
        })
    }

    /// A read or write deadline passed.
    pub(crate) fn timeout() -> Self {
        Self::new(Kind::Timeout, None)
    }

    /// The server refused an upgrade and replied with `status`.
    ///
    /// `reason` is displayed as is, like gorilla's `HandshakeError`, so it
    /// should carry the `websocket: ` prefix.
    pub(crate) fn handshake(status: StatusCode, reason: impl Into<String>) -> Self {
        Self::new(
            Kind::Handshake {
                status,
                reason: reason.into(),
            },
            None,
        )
    }

    /// gorilla's `ErrBadHandshake`: the server's handshake response was not
    /// acceptable (or not HTTP at all). `reason` says why and may be empty.
    pub(crate) fn bad_handshake(reason: impl Into<String>) -> Self {
        Self::new(
            Kind::BadHandshake {
                reason: reason.into(),
                response: None,
            },
            None,
        )
    }

    /// [`bad_handshake`](Self::bad_handshake) with the response that was
    /// refused, kept for [`response`](Self::response): gorilla returns it
    /// beside `ErrBadHandshake` so callers can follow redirects or
    /// authenticate.
    pub(crate) fn bad_handshake_response(
        reason: impl Into<String>,
        response: Response<Bytes>,
    ) -> Self {
        Self::new(
            Kind::BadHandshake {
                reason: reason.into(),
                response: Some(Box::new(response)),
            },
            None,
        )
    }

    /// A client bad handshake ([`bad_handshake`](Self::bad_handshake)) with
    /// the refused `response` attached; any other error is returned as is.
    pub(crate) fn with_response(self, response: Response<Bytes>) -> Self {
        match self.kind() {
            Kind::BadHandshake { reason, .. } => {
                Self::bad_handshake_response(reason.clone(), response)
            }
            _ => self,
        }
    }

    /// JSON encoding or decoding failed.
    pub(crate) fn json(err: serde_json::Error) -> Self {
        Self::new(Kind::Json, Some(Box::new(err)))
    }

    /// Hijacking the HTTP connection failed; `err` is the host's error.
    pub(crate) fn hijack(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::new(Kind::Hijack, Some(Box::new(err)))
    }

    fn from_io_error(err: io::Error) -> Self {
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let inner = err.into_inner().expect("checked: has an inner error");
            return *inner
                .downcast::<Error>()
                .expect("checked: inner is an Error");
        }
        Self::io(err)
    }

    /// Returns `true` if the underlying connection failed with an I/O error.
    pub fn is_io(&self) -> bool {
        matches!(self.kind(), Kind::Io)
    }

    /// Returns `true` if the peer violated the WebSocket protocol (bad frame,
    /// invalid close code, invalid UTF-8 ...). The connection has sent, or
    /// tried to send, a close frame with the matching close code.
    pub fn is_protocol(&self) -> bool {
        matches!(self.kind(), Kind::Protocol { .. })
    }

    /// Returns `true` for gorilla's `ErrReadLimit`: a message was larger than
    /// the limit set with `set_read_limit`.
    #[doc(alias = "ErrReadLimit")]
    pub fn is_read_limit(&self) -> bool {
        matches!(self.kind(), Kind::ReadLimit)
    }

    /// Returns `true` for gorilla's `ErrCloseSent`: the application wrote after
    /// sending a close message.
    #[doc(alias = "ErrCloseSent")]
    pub fn is_close_sent(&self) -> bool {
        matches!(self.kind(), Kind::CloseSent)
    }

    /// Returns `true` if the connection had been closed on this side with
    /// `Conn::close` (Go's `net.ErrClosed`).
    pub fn is_local_closed(&self) -> bool {
        matches!(self.kind(), Kind::LocalClosed)
    }

    /// Returns `true` if the application passed an argument the operation
    /// rejects, such as a data message type to `write_control` or a control
    /// payload over 125 bytes.
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self.kind(), Kind::InvalidArgument { .. })
    }

    /// Returns `true` if the peer closed the connection, with a close message
    /// or, abnormally (close code 1006), without one.
    /// [`close_error`](Self::close_error) has the details.
    pub fn is_close(&self) -> bool {
        matches!(self.kind(), Kind::Closed(_))
    }

    /// The close message the peer sent, or code 1006
    /// ([`CloseCode::ABNORMAL_CLOSURE`]) if the connection ended without one.
    /// `None` for every other error.
    #[doc(alias = "CloseError")]
    pub fn close_error(&self) -> Option<&CloseError> {
        match self.kind() {
            Kind::Closed(close) => Some(close),
            _ => None,
        }
    }

    /// Returns `true` if a read or write deadline passed, or the underlying
    /// connection reported a timeout.
    pub fn is_timeout(&self) -> bool {
        match self.kind() {
            Kind::Timeout => true,
            Kind::Io => self
                .inner
                .cause
                .as_ref()
                .and_then(|cause| cause.downcast_ref::<io::Error>())
                .is_some_and(|err| err.kind() == io::ErrorKind::TimedOut),
            _ => false,
        }
    }

    /// Returns `true` if the opening handshake failed: on the server, the
    /// upgrade request was rejected (gorilla's `HandshakeError`, and
    /// [`status`](Self::status) is the HTTP status sent); on the client, the
    /// server's response was not acceptable (gorilla's `ErrBadHandshake`).
    #[doc(alias = "HandshakeError")]
    #[doc(alias = "ErrBadHandshake")]
    pub fn is_handshake(&self) -> bool {
        matches!(
            self.kind(),
            Kind::Handshake { .. } | Kind::BadHandshake { .. }
        )
    }

    /// The HTTP status of the error response sent for a failed upgrade
    /// (server side). For a [`Dialer`](crate::Dialer) whose handshake failed,
    /// the status the server answered with is in
    /// [`response`](Self::response).
    pub fn status(&self) -> Option<StatusCode> {
        match self.kind() {
            Kind::Handshake { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's response to a [`Dialer`](crate::Dialer)'s handshake that
    /// was refused (gorilla returns it beside `ErrBadHandshake`): status,
    /// headers and the start of the body (at most
    /// [`Dialer::MAX_ERROR_BODY`](crate::Dialer::MAX_ERROR_BODY) bytes), so
    /// the caller can follow a redirect or authenticate and retry.
    ///
    /// `None` for every other error, and for a bad handshake whose response
    /// could not be parsed as HTTP.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// match websocket::Dialer::new().dial("ws://example.com/chat", None).await {
    ///     Ok((conn, _response)) => drop(conn),
    ///     Err(err) => match err.response() {
    ///         Some(r) if r.status() == http::StatusCode::UNAUTHORIZED => {
    ///             let challenge = r.headers().get(http::header::WWW_AUTHENTICATE);
    ///             println!("log in first: {challenge:?}");
    ///         }
    ///         Some(r) => println!("refused with {}: {:?}", r.status(), r.body()),
    ///         None => println!("dial: {err}"),
    ///     },
    /// }
    /// # }
    /// ```
    pub fn response(&self) -> Option<&Response<Bytes>> {
        match self.kind() {
            Kind::BadHandshake {
                response: Some(response),
                ..
            } => Some(response),
            _ => None,
        }
    }

    /// Returns `true` if a value could not be encoded or decoded as JSON.
    pub fn is_json(&self) -> bool {
        matches!(self.kind(), Kind::Json)
    }

    /// Returns `true` if taking over the HTTP connection for the WebSocket
    /// failed.
    pub fn is_hijack(&self) -> bool {
        matches!(self.kind(), Kind::Hijack)
    }

    /// The close code our close frame should carry after this error:
    /// the protocol error's code, or 1009 for an exceeded read limit.
    pub(crate) fn close_code(&self) -> Option<CloseCode> {
        match self.kind() {
            Kind::Protocol { code, .. } => Some(*code),
            Kind::ReadLimit => Some(CloseCode::MESSAGE_TOO_BIG),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut t = f.debug_tuple("websocket::Error");
        t.field(&self.inner.kind);
        if let Some(cause) = &self.inner.cause {
            t.field(cause);
        }
        t.finish()
    }
}

/// gorilla's text where it has one. For wrapped errors the cause's text is
/// included (as Go's wrapped errors read) and also returned by `source()`, so
/// `{}` alone is enough in logs and the cause can still be downcast.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Kind::Io => f.write_str("websocket: I/O error")?,
            Kind::Protocol { reason, .. } | Kind::InvalidArgument { reason } => {
                write_prefixed(f, reason)?;
            }
            Kind::ReadLimit => f.write_str("websocket: read limit exceeded")?,
            Kind::CloseSent => f.write_str("websocket: close sent")?,
            Kind::LocalClosed => f.write_str("websocket: use of closed network connection")?,
            Kind::Closed(close) => fmt::Display::fmt(close, f)?,
            Kind::Timeout => f.write_str("websocket: i/o timeout")?,
            Kind::Handshake { reason, .. } => f.write_str(reason)?,
            Kind::BadHandshake { reason, .. } if reason.is_empty() => {
                f.write_str("websocket: bad handshake")?;
            }
            Kind::BadHandshake { reason, .. } => write!(f, "websocket: bad handshake: {reason}")?,
            Kind::Json => f.write_str("websocket: JSON error")?,
            Kind::Hijack => f.write_str("websocket: hijack failed")?,
        }
        if let Some(cause) = &self.inner.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

/// Writes `websocket: <reason>`, tolerating callers that already included
/// the prefix so the text never reads `websocket: websocket: ...`.
fn write_prefixed(f: &mut fmt::Formatter<'_>, reason: &str) -> fmt::Result {
    const PREFIX: &str = "websocket: ";
    if reason.starts_with(PREFIX) {
        f.write_str(reason)
    } else {
        write!(f, "{PREFIX}{reason}")
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .cause
            .as_ref()
            .map(|cause| &**cause as &(dyn StdError + 'static))
    }
}

/// For `AsyncRead`/`AsyncWrite` adapters, which must return `io::Error`. The
/// original [`Error`] is kept inside; the kind is the closest `io` one so
/// generic I/O code reacts sensibly (for example, `read_to_end` reports an
/// abnormal closure as `UnexpectedEof`).
impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind() {
            Kind::Io => err
                .inner
                .cause
                .as_ref()
                .and_then(|cause| cause.downcast_ref::<io::Error>())
                .map_or(io::ErrorKind::Other, io::Error::kind),
            Kind::Timeout => io::ErrorKind::TimedOut,
            Kind::Closed(close) if close.code == CloseCode::ABNORMAL_CLOSURE => {
                io::ErrorKind::UnexpectedEof
            }
            Kind::Closed(_) => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// Recovers an [`Error`] that the `AsyncRead`/`AsyncWrite` adapters
/// ([`MessageReader`](crate::MessageReader), [`MessageWriter`](crate::MessageWriter))
/// returned inside an `io::Error`, or wraps a foreign I/O error, so `?` works
/// on both in one function.
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::from_io_error(err)
    }
}

/// Returns `true` if `err` is a close from the peer ([`Error::close_error`])
/// with one of `codes`.
///
/// A connection that ended without a close message counts as code 1006
/// ([`CloseCode::ABNORMAL_CLOSURE`]), as in gorilla.
#[doc(alias = "IsCloseError")]
pub fn is_close_error(err: &Error, codes: &[CloseCode]) -> bool {
    err.close_error()
        .is_some_and(|close| codes.contains(&close.code))
}

/// Returns `true` if `err` is a close from the peer ([`Error::close_error`])
/// whose code is not one of `expected`.
///
/// The usual read loop logs only surprising disconnects:
/// `is_unexpected_close_error(&err, &[CloseCode::GOING_AWAY, CloseCode::NORMAL_CLOSURE])`
/// is `true` for a vanished peer (1006) and `false` for a tab being closed.
/// Errors that are not closes (I/O, protocol, ...) return `false`.
#[doc(alias = "IsUnexpectedCloseError")]
pub fn is_unexpected_close_error(err: &Error, expected: &[CloseCode]) -> bool {
    err.close_error()
        .is_some_and(|close| !expected.contains(&close.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<(&'static str, Error)> {
        vec![
            (
                "io",
                Error::io(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
            ),
            (
                "protocol",
                Error::protocol(CloseCode::PROTOCOL_ERROR, "bad"),
            ),
            ("read_limit", Error::read_limit()),
            ("close_sent", Error::close_sent()),
            ("local_closed", Error::local_closed()),
            (
                "invalid_argument",
                Error::invalid_argument("bad write message type"),
            ),
            (
                "closed",
                Error::closed(CloseError {
                    code: CloseCode::GOING_AWAY,
                    text: "bye".into(),
                }),
            ),
            ("connection_closed", Error::connection_closed()),
            ("timeout", Error::timeout()),
            (
                "handshake",
                Error::handshake(StatusCode::FORBIDDEN, "websocket: nope"),
            ),
            ("bad_handshake", Error::bad_handshake("")),
            (
                "bad_handshake_response",
                Error::bad_handshake_response(
                    "unexpected status 403 Forbidden",
                    Response::builder()
                        .status(StatusCode::FORBIDDEN)
                        .body(Bytes::from_static(b"go away"))
                        .unwrap(),
                ),
            ),
            (
                "json",
                Error::json(serde_json::from_str::<u8>("x").unwrap_err()),
            ),
            ("hijack", Error::hijack(io::Error::other("no upgrade"))),
        ]
    }

    /// Which predicates hold for each constructor; each row must have exactly
    /// the listed ones and no others.
    #[test]
    fn predicates_are_exclusive() {
        for (name, err) in all_kinds() {
            let truths = [
                ("io", err.is_io()),
                ("protocol", err.is_protocol()),
                ("read_limit", err.is_read_limit()),
                ("close_sent", err.is_close_sent()),
                ("local_closed", err.is_local_closed()),
                ("invalid_argument", err.is_invalid_argument()),
                ("close", err.is_close()),
                ("timeout", err.is_timeout()),
                ("handshake", err.is_handshake()),
                ("json", err.is_json()),
                ("hijack", err.is_hijack()),
            ];
            let held: Vec<_> = truths.iter().filter(|(_, t)| *t).map(|(n, _)| *n).collect();
            let expected = match name {
                "closed" | "connection_closed" => "close",
                "bad_handshake" | "bad_handshake_response" => "handshake",
                other => other,
            };
            assert_eq!(held, [expected], "{name}");
        }
    }

    #[test]
    fn display_matches_gorilla() {
        assert_eq!(
            Error::read_limit().to_string(),
            "websocket: read limit exceeded"
        );
        assert_eq!(Error::close_sent().to_string(), "websocket: close sent");
        assert_eq!(
            Error::bad_handshake("").to_string(),
            "websocket: bad handshake"
        );
        assert_eq!(
            Error::bad_handshake("missing Sec-WebSocket-Accept").to_string(),
            "websocket: bad handshake: missing Sec-WebSocket-Accept"
        );
        let reason = "websocket: the client is not using the websocket protocol: \
                      'upgrade' token not found in 'Connection' header";
        assert_eq!(
            Error::handshake(StatusCode::BAD_REQUEST, reason).to_string(),
            reason
        );
        assert_eq!(
            Error::protocol(CloseCode::PROTOCOL_ERROR, "incorrect mask flag").to_string(),
            "websocket: incorrect mask flag"
        );
        assert_eq!(
            Error::closed(CloseError {
                code: CloseCode::NORMAL_CLOSURE,
                text: "done".into()
            })
            .to_string(),
            "websocket: close 1000 (normal): done"
        );
        assert_eq!(
            Error::connection_closed().to_string(),
            "websocket: close 1006 (abnormal closure): unexpected EOF"
        );
        assert_eq!(Error::timeout().to_string(), "websocket: i/o timeout");
        assert_eq!(
            Error::local_closed().to_string(),
            "websocket: use of closed network connection"
        );
        assert_eq!(
            Error::invalid_argument("bad write message type").to_string(),
            "websocket: bad write message type"
        );
        // An explicit prefix is not doubled.
        assert_eq!(
            Error::invalid_argument("websocket: invalid control frame").to_string(),
            "websocket: invalid control frame"
        );
        assert_eq!(
            Error::protocol(CloseCode::PROTOCOL_ERROR, "websocket: x").to_string(),
            "websocket: x"
        );
    }

    #[test]
    fn display_includes_and_source_returns_the_cause() {
        let err = Error::io(io::Error::new(io::ErrorKind::BrokenPipe, "pipe gone"));
        assert_eq!(err.to_string(), "websocket: I/O error: pipe gone");
        let source = err.source().expect("io cause");
        assert_eq!(
            source.downcast_ref::<io::Error>().map(io::Error::kind),
            Some(io::ErrorKind::BrokenPipe)
        );

        let err = Error::json(serde_json::from_str::<u8>("x").unwrap_err());
        assert!(
            err.to_string()
                .starts_with("websocket: JSON error: expected value")
        );
        assert!(err.source().unwrap().is::<serde_json::Error>());

        #[derive(Debug)]
        struct NoUpgrade;
        impl fmt::Display for NoUpgrade {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("request has no upgrade")
            }
        }
        impl StdError for NoUpgrade {}
        let err = Error::hijack(NoUpgrade);
        assert_eq!(
            err.to_string(),
            "websocket: hijack failed: request has no upgrade"
        );
        assert!(err.source().unwrap().is::<NoUpgrade>());

        assert!(Error::read_limit().source().is_none());
        // The close error is the Display text itself, reached via close_error().
        assert!(Error::connection_closed().source().is_none());
    }

    #[test]
    fn close_error_for_peer_close_and_abnormal_closure() {
        let close = CloseError {
            code: CloseCode(4000),
            text: "app".into(),
        };
        assert_eq!(Error::closed(close.clone()).close_error(), Some(&close));
        assert_eq!(
            Error::connection_closed().close_error(),
            Some(&CloseError {
                code: CloseCode::ABNORMAL_CLOSURE,
                text: "unexpected EOF".into()
            })
        );
        for (name, err) in all_kinds() {
            if !err.is_close() {
                assert_eq!(err.close_error(), None, "{name}");
            }
        }
    }

    #[test]
    fn status_only_for_server_handshake_errors() {
        assert_eq!(
            Error::handshake(StatusCode::FORBIDDEN, "websocket: origin").status(),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(Error::bad_handshake("x").status(), None);
        assert_eq!(Error::timeout().status(), None);
    }

    #[test]
    fn response_only_for_client_bad_handshakes_that_read_one() {
        let err = all_kinds()
            .into_iter()
            .find(|(name, _)| *name == "bad_handshake_response")
            .unwrap()
            .1;
        let response = err.response().expect("response kept");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.body(), "go away");
        assert_eq!(
            err.to_string(),
            "websocket: bad handshake: unexpected status 403 Forbidden"
        );
        // The server-side status is not the client's.
        assert_eq!(err.status(), None);
        for (name, err) in all_kinds() {
            if name != "bad_handshake_response" {
                assert!(err.response().is_none(), "{name}");
            }
        }
    }

    #[test]
    fn close_code_for_errors_we_answer_with_a_close_frame() {
        assert_eq!(
            Error::protocol(CloseCode::INVALID_FRAME_PAYLOAD_DATA, "invalid utf8").close_code(),
            Some(CloseCode::INVALID_FRAME_PAYLOAD_DATA)
        );
        assert_eq!(
            Error::protocol(CloseCode::PROTOCOL_ERROR, "x").close_code(),
            Some(CloseCode::PROTOCOL_ERROR)
        );
        assert_eq!(
            Error::read_limit().close_code(),
            Some(CloseCode::MESSAGE_TOO_BIG)
        );
        for (name, err) in all_kinds() {
            if !err.is_protocol() && !err.is_read_limit() {
                assert_eq!(err.close_code(), None, "{name}");
            }
        }
    }

    #[test]
    fn io_timeouts_count_as_timeouts() {
        assert!(Error::io(io::Error::from(io::ErrorKind::TimedOut)).is_timeout());
        assert!(!Error::io(io::Error::from(io::ErrorKind::ConnectionReset)).is_timeout());
    }

    #[test]
    fn is_close_error_semantics() {
        let going_away = Error::closed(CloseError {
            code: CloseCode::GOING_AWAY,
            text: String::new(),
        });
        assert!(is_close_error(&going_away, &[CloseCode::GOING_AWAY]));
        assert!(is_close_error(
            &going_away,
            &[CloseCode::NORMAL_CLOSURE, CloseCode::GOING_AWAY]
        ));
        assert!(!is_close_error(&going_away, &[CloseCode::NORMAL_CLOSURE]));
        assert!(!is_close_error(&going_away, &[]));
        assert!(is_close_error(
            &Error::connection_closed(),
            &[CloseCode::ABNORMAL_CLOSURE]
        ));
        assert!(!is_close_error(
            &Error::read_limit(),
            &[CloseCode::MESSAGE_TOO_BIG]
        ));
        assert!(!is_close_error(
            &Error::protocol(CloseCode::PROTOCOL_ERROR, "x"),
            &[CloseCode::PROTOCOL_ERROR]
        ));
    }

    #[test]
    fn is_unexpected_close_error_semantics() {
        let expected = [CloseCode::GOING_AWAY, CloseCode::NORMAL_CLOSURE];
        let going_away = Error::closed(CloseError {
            code: CloseCode::GOING_AWAY,
            text: String::new(),
        });
        assert!(!is_unexpected_close_error(&going_away, &expected));
        assert!(is_unexpected_close_error(&going_away, &[]));
        assert!(is_unexpected_close_error(
            &Error::connection_closed(),
            &expected
        ));
        // Not a close at all: never "unexpected close".
        assert!(!is_unexpected_close_error(&Error::timeout(), &expected));
        assert!(!is_unexpected_close_error(&Error::close_sent(), &[]));
    }

    #[test]
    fn clones_share_one_allocation() {
        let err = Error::io(io::Error::other("x"));
        let clone = err.clone();
        assert!(Arc::ptr_eq(&err.inner, &clone.inner));
        assert_eq!(err.to_string(), clone.to_string());
    }

    #[test]
    fn is_send_sync_static() {
        fn check<T: Send + Sync + Clone + 'static + StdError>() {}
        check::<Error>();
    }

    #[test]
    fn into_io_error_kinds() {
        let kind = |err: Error| io::Error::from(err).kind();
        assert_eq!(kind(Error::timeout()), io::ErrorKind::TimedOut);
        assert_eq!(
            kind(Error::connection_closed()),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            kind(Error::closed(CloseError {
                code: CloseCode::NORMAL_CLOSURE,
                text: String::new()
            })),
            io::ErrorKind::ConnectionAborted
        );
        assert_eq!(
            kind(Error::io(io::Error::from(io::ErrorKind::ConnectionReset))),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(kind(Error::read_limit()), io::ErrorKind::Other);
        assert_eq!(kind(Error::close_sent()), io::ErrorKind::Other);
    }

    #[test]
    fn io_round_trip_recovers_the_same_error() {
        for (name, err) in all_kinds() {
            let back = Error::from_io_error(io::Error::from(err.clone()));
            assert!(Arc::ptr_eq(&err.inner, &back.inner), "{name}");
        }
    }

    #[test]
    fn from_io_error_wraps_foreign_errors() {
        let err = Error::from_io_error(io::Error::new(io::ErrorKind::ConnectionReset, "rst"));
        assert!(err.is_io());
        assert_eq!(err.to_string(), "websocket: I/O error: rst");
        // An io::Error wrapping something else is not mistaken for ours.
        let err = Error::from_io_error(io::Error::other(CloseError {
            code: CloseCode::NORMAL_CLOSURE,
            text: String::new(),
        }));
        assert!(err.is_io());
    }

    #[test]
    fn debug_names_the_kind() {
        let text = format!("{:?}", Error::read_limit());
        assert!(text.contains("ReadLimit"), "{text}");
        let text = format!("{:?}", Error::io(io::Error::other("boom")));
        assert!(text.contains("Io") && text.contains("boom"), "{text}");
    }
}
