//! [`Upgrader`]: gorilla's `Upgrader`, turning an HTTP request into a [`Conn`].
//!
//! # How an upgrade runs
//!
//! [`Upgrader::upgrade`] is a plain function that returns a future. The
//! function does all the work that needs the request, synchronously: it runs
//! gorilla's checks in gorilla's order, calls the [`check_origin`] hook, and
//! either calls the [error hook](Upgrader::error) (or writes the default error
//! response head) or puts the handshake headers on the writer. The future it
//! returns only writes the error body, or hijacks the connection and wraps it
//! in a [`Conn`]. So the future never borrows the request, and a handler that
//! awaits it stays `Send` even though `&Request<axum::body::Body>` is not.
//!
//! | check, in order | status | error message |
//! |---|---|---|
//! | `Connection` has the `upgrade` token | 400 | `websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header` |
//! | `Upgrade` has the `websocket` token (the response gets `Upgrade: websocket`) | 426 | `... 'websocket' token not found in 'Upgrade' header` |
//! | method is `GET` | 405 | `... request method is not GET` |
//! | `Sec-WebSocket-Version` has `13` | 400 | `websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header` |
//! | the application's response headers have no `Sec-WebSocket-Extensions` | 500 | `websocket: application specific 'Sec-WebSocket-Extensions' headers are unsupported` |
//! | the origin is allowed ([`check_origin`]) | 403 | `websocket: request origin not allowed by Upgrader.CheckOrigin` |
//! | `Sec-WebSocket-Key` is base64 of 16 bytes | 400 | `websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length` |
//! | the connection can be hijacked | 500 | [`Error::is_hijack`] |
//!
//! The 426 and the subprotocol order (the client's preference wins) follow
//! gorilla's main branch, which fixed both after v1.5.3.
//!
//! An HTTP/2 extended CONNECT (RFC 8441, see
//! [`is_websocket_upgrade`](crate::is_websocket_upgrade)) skips the
//! `Connection`, `Upgrade`, method and key checks: it has none of those. Its
//! response is `200 OK` without `Sec-WebSocket-Accept`.
//!
//! [`check_origin`]: Upgrader::check_origin

use std::{fmt, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use compat::{BoxFuture, Hijacked, ResponseWriter};
use http::{
    Extensions, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version, header,
    request::Parts,
};

use crate::{
    BufferPool, CompressionOptions, Conn, Error,
    compression::{self, Negotiated},
    conn::{ConnConfig, Role},
    handshake,
};

/// A read-only view of the request being upgraded, given to the
/// [`check_origin`](Upgrader::check_origin) and [`error`](Upgrader::error)
/// hooks in place of Go's `*http.Request`.
///
/// It carries everything but the body. Build one from a request with
/// [`From`] to unit-test a hook.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Version,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> HandshakeRequest<'a> {
    /// A view of the request's head.
    pub fn from_parts(parts: &'a Parts) -> Self {
        HandshakeRequest {
            method: &parts.method,
            uri: &parts.uri,
            version: parts.version,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions: with [`compat`], the request's
    /// [`Context`](compat::Context), [`RemoteAddr`](compat::RemoteAddr),
    /// path parameters and router state.
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// Go's `r.Host`: the URI's authority (absolute-form targets, HTTP/2),
    /// else the `Host` header.
    pub fn host(&self) -> Option<&'a str> {
        // As `compat::RequestExt::host` and Go: an absolute-form target's authority wins over
        // `Host` (RFC 9112 3.2.2); on HTTP/2 it is `:authority`.
        match self.uri.authority() {
            Some(authority) => Some(authority.as_str()),
            None => self.headers.get(header::HOST)?.to_str().ok(),
        }
    }

    /// Go's `r.RemoteAddr`, when the server recorded it (see
    /// [`compat::RemoteAddr`]).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        compat::RemoteAddr::from_extensions(self.extensions)
    }

    /// An owned copy of the head (for an error hook that runs after the
    /// request is out of reach).
    fn to_parts(self) -> Parts {
        let (mut parts, ()) = Request::new(()).into_parts();
        parts.method = self.method.clone();
        parts.uri = self.uri.clone();
        parts.version = self.version;
        parts.headers = self.headers.clone();
        parts.extensions = self.extensions.clone();
        parts
    }
}

impl<'a, B> From<&'a Request<B>> for HandshakeRequest<'a> {
    fn from(r: &'a Request<B>) -> Self {
        HandshakeRequest {
            method: r.method(),
            uri: r.uri(),
            version: r.version(),
            headers: r.headers(),
            extensions: r.extensions(),
        }
    }
}

/// The [`Upgrader::check_origin`] hook: `true` accepts the request's origin.
pub type CheckOrigin = Arc<dyn Fn(&HandshakeRequest<'_>) -> bool + Send + Sync>;

/// The [`Upgrader::error`] hook: writes the response for a failed upgrade.
///
/// It is called synchronously with the request and returns a future that may
/// borrow only the writer; copy what it needs from the request, the status and
/// the error before the `async` block.
pub type ErrorHook = Arc<
    dyn for<'w> Fn(
            &'w mut dyn ResponseWriter,
            &HandshakeRequest<'_>,
            StatusCode,
            &Error,
        ) -> BoxFuture<'w>
        + Send
        + Sync,
>;

/// Upgrades HTTP requests to WebSocket connections (gorilla's `Upgrader`).
///
/// Configure it once and share it; [`upgrade`](Self::upgrade) takes `&self`.
/// The fields are public, as in Go, and each has a builder method.
///
/// ```no_run
/// use std::sync::LazyLock;
///
/// use compat::{Body, ResponseWriter};
/// use http::Request;
/// use websocket::Upgrader;
///
/// static UPGRADER: LazyLock<Upgrader> = LazyLock::new(|| {
///     Upgrader::new()
///         .subprotocols(["chat.v2", "chat.v1"])
///         .check_origin(|r| r.headers().get("origin").is_none_or(|o| o == "https://example.com"))
/// });
///
/// async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
///     let conn = match UPGRADER.upgrade(w, &r, None).await {
///         Ok(conn) => conn,
///         // The client already got an error response.
///         Err(err) => return tracing::debug!("upgrade: {err}"),
///     };
///     // ... read and write messages on `conn`.
///     # drop(conn);
/// }
///
/// let app: axum::Router =
///     axum::Router::new().route("/echo", axum::routing::get(compat::handler(echo)));
/// ```
#[derive(Clone)]
pub struct Upgrader {
    /// How long hijacking the connection may take: sending the response head
    /// and getting the connection back from the server. `None` waits forever.
    /// Defaults to [`DEFAULT_HANDSHAKE_TIMEOUT`](Self::DEFAULT_HANDSHAKE_TIMEOUT)
    /// (gorilla's zero value means no timeout; here the default is safe).
    pub handshake_timeout: Option<Duration>,
    /// The connection's read buffer size in bytes; 0 picks a default. It does
    /// not limit the size of messages.
    pub read_buffer_size: usize,
    /// The connection's write buffer size in bytes; 0 picks a default. It does
    /// not limit the size of messages.
    pub write_buffer_size: usize,
    /// A pool to borrow write buffers from while a message is written, instead
    /// of each connection holding one for its lifetime. Use one pool per
    /// `write_buffer_size`.
    pub write_buffer_pool: Option<Arc<dyn BufferPool>>,
    /// The subprotocols the server supports. The first protocol in the
    /// client's offer that is in this list is selected; with no match none is
    /// (no `Sec-WebSocket-Protocol` in the response). When this is empty, a
    /// `Sec-WebSocket-Protocol` in the `response_headers` given to
    /// [`upgrade`](Self::upgrade) is used as is.
    pub subprotocols: Vec<String>,
    /// Writes the response for a failed upgrade. `None` sends gorilla's
    /// default: `Sec-WebSocket-Version: 13` and the status text as a plain-text
    /// body ([`compat::http_error`]).
    pub error: Option<ErrorHook>,
    /// Decides whether the request's origin is acceptable. `None` uses the safe
    /// default: an `Origin` header, when present, must name the request's host
    /// (`host[:port]`, compared case-insensitively).
    ///
    /// A hook must validate the origin carefully to prevent cross-site request
    /// forgery.
    pub check_origin: Option<CheckOrigin>,
    /// Whether to negotiate per-message compression (RFC 7692,
    /// `permessage-deflate`) when the client offers it (gorilla's
    /// `EnableCompression`). The first acceptable offer is answered according to
    /// [`compression`](Self::compression); malformed offers are declined, never
    /// failing the handshake. See the [`compression` docs](crate::CompressionOptions).
    pub enable_compression: bool,
    /// How to compress when compression is negotiated: context takeover and
    /// window size in each direction, level, and the size under which messages
    /// go out uncompressed. Unlike gorilla, which never keeps context, the
    /// default keeps it whenever the client agrees.
    pub compression: CompressionOptions,
}

impl Default for Upgrader {
    fn default() -> Self {
        Upgrader {
            handshake_timeout: Some(Self::DEFAULT_HANDSHAKE_TIMEOUT),
            read_buffer_size: 0,
            write_buffer_size: 0,
            write_buffer_pool: None,
            subprotocols: Vec::new(),
            error: None,
            check_origin: None,
            enable_compression: false,
            compression: CompressionOptions::default(),
        }
    }
}

impl fmt::Debug for Upgrader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hook = |set: bool| if set { "Some(..)" } else { "None" };
        f.debug_struct("Upgrader")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("write_buffer_pool", &self.write_buffer_pool)
            .field("subprotocols", &self.subprotocols)
            .field("error", &format_args!("{}", hook(self.error.is_some())))
            .field(
                "check_origin",
                &format_args!("{}", hook(self.check_origin.is_some())),
            )
            .field("enable_compression", &self.enable_compression)
            .field("compression", &self.compression)
            .finish()
    }
}

/// What the synchronous part decided.
enum Next<'a> {
    /// The upgrade failed: finish the error response, then return the error.
    Reject { respond: BoxFuture<'a>, err: Error },
    /// The handshake headers are set: hijack.
    Hijack {
        w: &'a mut dyn ResponseWriter,
        accepted: Box<Accepted>,
    },
}

/// A request that passed every check.
struct Accepted {
    subprotocol: String,
    /// The permessage-deflate parameters answered, if any.
    compression: Option<Negotiated>,
    remote_addr: Option<SocketAddr>,
    /// The writer's headers before the handshake headers were added, restored
    /// if hijacking fails so the error response does not carry them.
    saved_headers: HeaderMap,
    /// The request head, kept only when an error hook may need it after a
    /// failed hijack.
    request: Option<Parts>,
}

const BAD_HANDSHAKE: &str = "websocket: the client is not using the websocket protocol: ";

impl Upgrader {
    /// The default [`handshake_timeout`](Self::handshake_timeout): 10 seconds.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// An upgrader with the defaults (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout); `None` disables it.
    pub fn handshake_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.handshake_timeout = timeout.into();
        self
    }

    /// Sets [`read_buffer_size`](Self::read_buffer_size).
    pub fn read_buffer_size(mut self, size: usize) -> Self {
        self.read_buffer_size = size;
        self
    }

    /// Sets [`write_buffer_size`](Self::write_buffer_size).
    pub fn write_buffer_size(mut self, size: usize) -> Self {
        self.write_buffer_size = size;
        self
    }

    /// Sets [`write_buffer_pool`](Self::write_buffer_pool).
    pub fn write_buffer_pool(mut self, pool: Arc<dyn BufferPool>) -> Self {
        self.write_buffer_pool = Some(pool);
        self
    }

    /// Sets [`subprotocols`](Self::subprotocols), in the server's order.
    pub fn subprotocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the [`error`](Self::error) hook.
    ///
    /// ```
    /// use http::{HeaderValue, StatusCode};
    ///
    /// let upgrader = websocket::Upgrader::new().error(|w, _r, status, err| {
    ///     let reason = err.to_string();
    ///     w.headers_mut().insert("x-upgrade-error", HeaderValue::from_static("1"));
    ///     Box::pin(async move { compat::http_error(w, &reason, status).await })
    /// });
    /// # drop(upgrader);
    /// ```
    pub fn error<F>(mut self, hook: F) -> Self
    where
        F: for<'w> Fn(
                &'w mut dyn ResponseWriter,
                &HandshakeRequest<'_>,
                StatusCode,
                &Error,
            ) -> BoxFuture<'w>
            + Send
            + Sync
            + 'static,
    {
        self.error = Some(Arc::new(hook));
        self
    }

    /// Sets the [`check_origin`](Self::check_origin) hook.
    ///
    /// ```
    /// let upgrader = websocket::Upgrader::new().check_origin(|r| {
    ///     r.headers()
    ///         .get("origin")
    ///         .is_none_or(|origin| origin == "https://app.example.com")
    /// });
    /// # drop(upgrader);
    /// ```
    pub fn check_origin<F>(mut self, hook: F) -> Self
    where
        F: Fn(&HandshakeRequest<'_>) -> bool + Send + Sync + 'static,
    {
        self.check_origin = Some(Arc::new(hook));
        self
    }

    /// Sets [`enable_compression`](Self::enable_compression).
    pub fn enable_compression(mut self, enable: bool) -> Self {
        self.enable_compression = enable;
        self
    }

    /// Sets [`compression`](Self::compression) (it takes effect with
    /// [`enable_compression`](Self::enable_compression)).
    pub fn compression_options(mut self, options: CompressionOptions) -> Self {
        self.compression = options;
        self
    }

    /// Sets the compression [`threshold`](CompressionOptions::threshold): data
    /// messages shorter than `bytes` are sent uncompressed.
    pub fn compression_threshold(mut self, bytes: usize) -> Self {
        self.compression.threshold = bytes;
        self
    }

    /// Upgrades the request to a WebSocket connection (gorilla's `Upgrade`).
    ///
    /// `response_headers` go out with the `101 Switching Protocols` response:
    /// use them for cookies (`Set-Cookie`). A `Sec-WebSocket-Protocol` in them
    /// counts only when [`subprotocols`](Self::subprotocols) is empty. Headers
    /// already set on `w` are sent too.
    ///
    /// If the upgrade fails, the client has already been sent an HTTP error
    /// response (by the [`error`](Self::error) hook, or the default one) and
    /// the error says why: [`Error::is_handshake`] with
    /// [`Error::status`] for a rejected request, [`Error::is_hijack`] when the
    /// connection could not be taken over (500, e.g. a request the server
    /// offered no upgrade for), [`Error::is_timeout`] when that took longer
    /// than [`handshake_timeout`](Self::handshake_timeout).
    ///
    /// The request is only read in this call, not in the returned future (see
    /// the [`Upgrader`] docs), so `&r` may be a temporary.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the upgrade. Once the connection was
    /// hijacked it is closed (the client saw a `101`, then EOF); before that,
    /// the writer stays usable and holds the handshake headers set so far.
    pub fn upgrade<'a, B>(
        &'a self,
        w: &'a mut dyn ResponseWriter,
        r: &Request<B>,
        response_headers: Option<HeaderMap>,
    ) -> impl Future<Output = Result<Conn, Error>> + Send + use<'a, B> {
        let next = self.prepare(w, HandshakeRequest::from(r), response_headers);
        async move {
            match next {
                Next::Reject { respond, err } => {
                    respond.await;
                    Err(err)
                }
                Next::Hijack { w, accepted } => self.hijack(w, accepted).await,
            }
        }
    }

    /// The synchronous part of [`upgrade`](Self::upgrade): the checks, and the
    /// response headers of the success or error response.
    fn prepare<'a>(
        &self,
        w: &'a mut dyn ResponseWriter,
        r: HandshakeRequest<'_>,
        response_headers: Option<HeaderMap>,
    ) -> Next<'a> {
        match self.check(w, r, response_headers.as_ref()) {
            Ok(()) => {}
            Err((status, reason)) => {
                let err = Error::handshake(status, reason);
                let respond = self.respond_error(w, &r, status, &err);
                return Next::Reject { respond, err };
            }
        }

        let extended_connect = handshake::is_extended_connect(r.method(), r.version(), r.uri());
        let subprotocol = self.select_subprotocol(r.headers(), response_headers.as_ref());
        let compression = self
            .enable_compression
            .then(|| compression::server_negotiate(r.headers(), &self.compression))
            .flatten();

        let saved_headers = w.headers().clone();
        let headers = w.headers_mut();
        if let Some(response_headers) = &response_headers {
            for (name, value) in response_headers {
                if name != header::SEC_WEBSOCKET_PROTOCOL {
                    headers.append(name, value.clone());
                }
            }
        }
        if !extended_connect {
            let key = r
                .headers()
                .get(header::SEC_WEBSOCKET_KEY)
                .map_or(&[][..], HeaderValue::as_bytes);
            let accept = HeaderValue::try_from(handshake::accept_key(key))
                .expect("base64 is a valid header value");
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        let compression = compression.map(|(negotiated, answer)| {
            headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, answer);
            negotiated
        });
        let subprotocol = match HeaderValue::try_from(subprotocol.as_str()) {
            Ok(value) if !subprotocol.is_empty() => {
                headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
                subprotocol
            }
            _ => String::new(),
        };

        Next::Hijack {
            w,
            accepted: Box::new(Accepted {
                subprotocol,
                compression,
                remote_addr: r.remote_addr(),
                saved_headers,
                request: self.error.as_ref().map(|_| r.to_parts()),
            }),
        }
    }

    /// gorilla's checks, in gorilla's order. On failure: the status and the
    /// error message. Sets `Upgrade: websocket` on a 426.
    fn check(
        &self,
        w: &mut dyn ResponseWriter,
        r: HandshakeRequest<'_>,
        response_headers: Option<&HeaderMap>,
    ) -> Result<(), (StatusCode, String)> {
        let headers = r.headers();
        let fail = |status, reason: &str| Err((status, reason.to_owned()));
        let extended_connect = handshake::is_extended_connect(r.method(), r.version(), r.uri());

        if !extended_connect {
            if !handshake::token_list_contains(headers, header::CONNECTION, "upgrade") {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("{BAD_HANDSHAKE}'upgrade' token not found in 'Connection' header"),
                ));
            }
            if !handshake::token_list_contains(headers, header::UPGRADE, "websocket") {
                w.headers_mut()
                    .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                return Err((
                    StatusCode::UPGRADE_REQUIRED,
                    format!("{BAD_HANDSHAKE}'websocket' token not found in 'Upgrade' header"),
                ));
            }
            if r.method() != Method::GET {
                return Err((
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{BAD_HANDSHAKE}request method is not GET"),
                ));
            }
        }
        if !handshake::token_list_contains(headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return fail(
                StatusCode::BAD_REQUEST,
                "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header",
            );
        }
        if response_headers.is_some_and(|h| h.contains_key(header::SEC_WEBSOCKET_EXTENSIONS)) {
            return fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "websocket: application specific 'Sec-WebSocket-Extensions' headers are unsupported",
            );
        }
        let origin_ok = match &self.check_origin {
            Some(check) => check(&r),
            None => handshake::check_same_origin(headers, r.host()),
        };
        if !origin_ok {
            return fail(
                StatusCode::FORBIDDEN,
                "websocket: request origin not allowed by Upgrader.CheckOrigin",
            );
        }
        // RFC 8441: an extended CONNECT has no key and gets no accept value.
        if !extended_connect {
            let key = headers.get(header::SEC_WEBSOCKET_KEY);
            if !key.is_some_and(|k| handshake::is_valid_challenge_key(k.as_bytes())) {
                return fail(
                    StatusCode::BAD_REQUEST,
                    "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be \
                     Base64 encoded value of 16-byte in length",
                );
            }
        }
        Ok(())
    }

    /// The client's first offered protocol that the server supports; with no
    /// server list, the application's `Sec-WebSocket-Protocol` response header.
    fn select_subprotocol(
        &self,
        request_headers: &HeaderMap,
        response_headers: Option<&HeaderMap>,
    ) -> String {
        if !self.subprotocols.is_empty() {
            handshake::offered_subprotocols(request_headers)
                .into_iter()
                .find(|offered| self.subprotocols.contains(offered))
                .unwrap_or_default()
        } else {
            response_headers
                .and_then(|h| h.get(header::SEC_WEBSOCKET_PROTOCOL))
                .and_then(|v| v.to_str().ok())
                .map(String::from)
                .unwrap_or_default()
        }
    }

    /// Starts the error response: the hook's, or gorilla's default
    /// (`Sec-WebSocket-Version: 13` and `http.Error` with the status text).
    fn respond_error<'w>(
        &self,
        w: &'w mut dyn ResponseWriter,
        r: &HandshakeRequest<'_>,
        status: StatusCode,
        err: &Error,
    ) -> BoxFuture<'w> {
        match &self.error {
            Some(hook) => hook(w, r, status, err),
            None => default_error(w, status),
        }
    }

    /// The asynchronous part of a successful [`upgrade`](Self::upgrade): take
    /// the connection over and wrap it.
    async fn hijack(
        &self,
        w: &mut dyn ResponseWriter,
        accepted: Box<Accepted>,
    ) -> Result<Conn, Error> {
        let hijacked = match self.handshake_timeout {
            Some(limit) => match tokio::time::timeout(limit, w.hijack()).await {
                Ok(hijacked) => hijacked,
                Err(_elapsed) => return Err(Error::timeout()),
            },
            None => w.hijack().await,
        };
        let io = match hijacked {
            Ok(io) => io,
            Err(e) => {
                let err = Error::hijack(e);
                *w.headers_mut() = accepted.saved_headers;
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                let respond = match (&self.error, &accepted.request) {
                    (Some(hook), Some(parts)) => {
                        hook(w, &HandshakeRequest::from_parts(parts), status, &err)
                    }
                    _ => default_error(w, status),
                };
                respond.await;
                return Err(err);
            }
        };
        Ok(self.wrap(io, &accepted))
    }

    fn wrap(&self, io: Hijacked, accepted: &Accepted) -> Conn {
        let io = io.with_addrs(None, accepted.remote_addr);
        let config = ConnConfig {
            role: Role::Server,
            subprotocol: accepted.subprotocol.clone(),
            read_buffer_size: self.read_buffer_size,
            write_buffer_size: self.write_buffer_size,
            write_buffer_pool: self.write_buffer_pool.clone(),
            local_addr: io.local_addr(),
            remote_addr: io.remote_addr(),
            compression: accepted.compression,
        };
        Conn::new(io, config)
    }
}

/// gorilla's default error response: `Sec-WebSocket-Version: 13` and Go's
/// `http.Error` with the status text.
fn default_error(w: &mut dyn ResponseWriter, status: StatusCode) -> BoxFuture<'_> {
    w.headers_mut().insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    let text = status.canonical_reason().unwrap_or("");
    Box::pin(compat::http_error(w, text, status))
}

#[cfg(test)]
mod tests {
    use std::{
        pin::Pin,
        sync::atomic::{AtomicUsize, Ordering},
        task::{Context, Poll},
    };

    use compat::{Body, HijackFuture, ResponseRecorder};
    use tokio::io::AsyncWrite;

    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    /// A valid HTTP/1.1 upgrade request to `example.com`.
    fn valid() -> http::request::Builder {
        Request::get("/chat")
            .header("host", "example.com")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", KEY)
    }

    /// Runs a request through `upgrade` that must be rejected, with a recorder
    /// that could hijack (so a wrong success would reach `Conn::new`).
    async fn reject(
        u: &Upgrader,
        r: Request<()>,
        hdr: Option<HeaderMap>,
    ) -> (ResponseRecorder, Error) {
        let (mut rec, _client) = ResponseRecorder::with_hijack();
        let err = u
            .upgrade(&mut rec, &r, hdr)
            .await
            .expect_err("must be rejected");
        assert!(!rec.hijacked());
        (rec, err)
    }

    /// The synchronous part on a request that must be accepted; returns the
    /// writer (with the handshake headers) and the decision.
    fn accept(
        u: &Upgrader,
        r: Request<()>,
        hdr: Option<HeaderMap>,
    ) -> (ResponseRecorder, Box<Accepted>) {
        let mut rec = ResponseRecorder::new();
        let accepted = match u.prepare(&mut rec, HandshakeRequest::from(&r), hdr) {
            Next::Hijack { accepted, .. } => accepted,
            Next::Reject { err, .. } => panic!("rejected: {err}"),
        };
        (rec, accepted)
    }

    fn assert_default_error(rec: &ResponseRecorder, status: StatusCode) {
        assert_eq!(rec.code(), status);
        assert_eq!(rec.headers()["sec-websocket-version"], "13");
        assert_eq!(rec.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(rec.headers()["x-content-type-options"], "nosniff");
        assert_eq!(
            rec.body(),
            format!("{}\n", status.canonical_reason().unwrap())
        );
    }

    #[tokio::test]
    async fn missing_connection_upgrade_is_400() {
        let mut r = valid().body(()).unwrap();
        r.headers_mut()
            .insert("connection", HeaderValue::from_static("keep-alive"));
        let (rec, err) = reject(&Upgrader::new(), r, None).await;
        assert_default_error(&rec, StatusCode::BAD_REQUEST);
        assert!(err.is_handshake());
        assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            err.to_string(),
            "websocket: the client is not using the websocket protocol: \
             'upgrade' token not found in 'Connection' header"
        );
    }

    #[tokio::test]
    async fn missing_upgrade_websocket_is_426() {
        let mut r = valid().body(()).unwrap();
        r.headers_mut()
            .insert("upgrade", HeaderValue::from_static("h2c"));
        let (rec, err) = reject(&Upgrader::new(), r, None).await;
        assert_default_error(&rec, StatusCode::UPGRADE_REQUIRED);
        assert_eq!(rec.headers()["upgrade"], "websocket");
        assert_eq!(
            err.to_string(),
            "websocket: the client is not using the websocket protocol: \
             'websocket' token not found in 'Upgrade' header"
        );
    }

    #[tokio::test]
    async fn non_get_is_405() {
        let mut r = valid().body(()).unwrap();
        *r.method_mut() = Method::POST;
        let (rec, err) = reject(&Upgrader::new(), r, None).await;
        assert_default_error(&rec, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            err.to_string(),
            "websocket: the client is not using the websocket protocol: request method is not GET"
        );
    }

    #[tokio::test]
    async fn wrong_version_is_400() {
        let mut r = valid().body(()).unwrap();
        r.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("8"));
        let (rec, err) = reject(&Upgrader::new(), r, None).await;
        assert_default_error(&rec, StatusCode::BAD_REQUEST);
        assert_eq!(
            err.to_string(),
            "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"
        );
        // A list holding 13 passes.
        let mut r = valid().body(()).unwrap();
        r.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("8, 13"));
        accept(&Upgrader::new(), r, None);
    }

    #[tokio::test]
    async fn application_extensions_header_is_500() {
        let mut hdr = HeaderMap::new();
        hdr.insert(
            "sec-websocket-extensions",
            HeaderValue::from_static("x-foo"),
        );
        let (rec, err) = reject(&Upgrader::new(), valid().body(()).unwrap(), Some(hdr)).await;
        assert_default_error(&rec, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            err.to_string(),
            "websocket: application specific 'Sec-WebSocket-Extensions' headers are unsupported"
        );
    }

    #[tokio::test]
    async fn foreign_origin_is_403_and_same_origin_passes() {
        let r = valid()
            .header("origin", "https://evil.example")
            .body(())
            .unwrap();
        let (rec, err) = reject(&Upgrader::new(), r, None).await;
        assert_default_error(&rec, StatusCode::FORBIDDEN);
        assert_eq!(
            err.to_string(),
            "websocket: request origin not allowed by Upgrader.CheckOrigin"
        );
        let r = valid()
            .header("origin", "https://EXAMPLE.com")
            .body(())
            .unwrap();
        accept(&Upgrader::new(), r, None);
    }

    #[tokio::test]
    async fn bad_keys_are_400() {
        for key in [
            None,
            Some(""),
            Some("dGhlIHNhbXBsZSBub25j"),
            Some("not base64 at all!!!!!!!"),
        ] {
            let mut r = valid().body(()).unwrap();
            r.headers_mut().remove("sec-websocket-key");
            if let Some(key) = key {
                r.headers_mut()
                    .insert("sec-websocket-key", HeaderValue::from_static(key));
            }
            let (rec, err) = reject(&Upgrader::new(), r, None).await;
            assert_default_error(&rec, StatusCode::BAD_REQUEST);
            assert_eq!(
                err.to_string(),
                "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be \
                 Base64 encoded value of 16-byte in length",
                "{key:?}"
            );
        }
    }

    #[tokio::test]
    async fn checks_run_in_gorilla_order() {
        // Start with everything wrong and fix one thing per stage: each stage
        // must report the next check in gorilla's order.
        let build = |stage: usize| {
            let mut r = Request::builder()
                .method(if stage >= 3 {
                    Method::GET
                } else {
                    Method::POST
                })
                .uri("/")
                .header("host", "example.com")
                .header(
                    "origin",
                    if stage >= 6 {
                        "http://example.com"
                    } else {
                        "http://evil.example"
                    },
                );
            for (at, name, value) in [
                (1, "connection", "upgrade"),
                (2, "upgrade", "websocket"),
                (4, "sec-websocket-version", "13"),
            ] {
                if stage >= at {
                    r = r.header(name, value);
                }
            }
            let hdr = (stage < 5).then(|| {
                let mut h = HeaderMap::new();
                h.insert("sec-websocket-extensions", HeaderValue::from_static("x"));
                h
            });
            (r.body(()).unwrap(), hdr)
        };
        let expected = [
            StatusCode::BAD_REQUEST,           // Connection
            StatusCode::UPGRADE_REQUIRED,      // Upgrade
            StatusCode::METHOD_NOT_ALLOWED,    // GET
            StatusCode::BAD_REQUEST,           // version
            StatusCode::INTERNAL_SERVER_ERROR, // application extensions
            StatusCode::FORBIDDEN,             // origin
            StatusCode::BAD_REQUEST,           // key
        ];
        for (stage, status) in expected.into_iter().enumerate() {
            let (r, hdr) = build(stage);
            let (_, err) = reject(&Upgrader::new(), r, hdr).await;
            assert_eq!(err.status(), Some(status), "stage {stage}: {err}");
        }
    }

    #[tokio::test]
    async fn success_headers_rfc6455_sample() {
        let mut hdr = HeaderMap::new();
        hdr.append("set-cookie", HeaderValue::from_static("a=1"));
        hdr.append("set-cookie", HeaderValue::from_static("b=2"));
        let (rec, accepted) = accept(&Upgrader::new(), valid().body(()).unwrap(), Some(hdr));
        let h = rec.headers();
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "Upgrade");
        assert_eq!(h["sec-websocket-accept"], ACCEPT);
        assert!(!h.contains_key("sec-websocket-protocol"));
        assert!(!h.contains_key("sec-websocket-extensions"));
        assert!(!h.contains_key("sec-websocket-version"));
        let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(accepted.subprotocol, "");
        assert!(
            accepted.request.is_none(),
            "no hook, no copy of the request"
        );
        // Nothing is committed before the hijack.
        assert!(!rec.hijacked());
        assert_eq!(rec.status(), None);
    }

    #[tokio::test]
    async fn compression_is_answered_only_when_enabled() {
        let offer = |u: &Upgrader, extensions: &'static str| {
            let r = valid()
                .header("sec-websocket-extensions", extensions)
                .body(())
                .unwrap();
            let (rec, accepted) = accept(u, r, None);
            let answer = rec
                .headers()
                .get("sec-websocket-extensions")
                .map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(answer.is_some(), accepted.compression.is_some());
            answer
        };
        let chrome = "permessage-deflate; client_max_window_bits";
        assert_eq!(offer(&Upgrader::new(), chrome), None);
        let u = Upgrader::new().enable_compression(true);
        assert_eq!(offer(&u, chrome).as_deref(), Some("permessage-deflate"));
        // A malformed first offer is declined and the next one answered.
        assert_eq!(
            offer(
                &u,
                "permessage-deflate; bogus, permessage-deflate; server_no_context_takeover"
            )
            .as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        assert_eq!(
            offer(&u, "permessage-deflate; server_max_window_bits=99"),
            None
        );
        assert_eq!(offer(&u, "x-webkit-deflate-frame"), None);
        // The options shape the answer.
        let u = u.compression_options(crate::CompressionOptions {
            server_max_window_bits: 10,
            ..crate::CompressionOptions::no_context_takeover()
        });
        assert_eq!(
            offer(&u, chrome).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10"
            )
        );
    }

    #[test]
    fn subprotocol_selection() {
        let offer = |u: &Upgrader, offer: Option<&'static str>, hdr: Option<&'static str>| {
            let mut r = valid();
            if let Some(offer) = offer {
                r = r.header("sec-websocket-protocol", offer);
            }
            let hdr = hdr.map(|p| {
                let mut h = HeaderMap::new();
                h.insert("sec-websocket-protocol", HeaderValue::from_static(p));
                h
            });
            let (rec, accepted) = accept(u, r.body(()).unwrap(), hdr);
            let sent = rec
                .headers()
                .get_all("sec-websocket-protocol")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>();
            assert_eq!(sent.len(), usize::from(!accepted.subprotocol.is_empty()));
            assert!(sent.iter().all(|s| *s == accepted.subprotocol));
            accepted.subprotocol
        };
        let u = Upgrader::new().subprotocols(["b", "a"]);
        // The client's order wins (gorilla main, RFC 6455 4.2.2).
        assert_eq!(offer(&u, Some("a, b"), None), "a");
        assert_eq!(offer(&u, Some("c, b, a"), None), "b");
        assert_eq!(offer(&u, Some("c"), None), "");
        assert_eq!(offer(&u, None, None), "");
        // Exact, case-sensitive match.
        assert_eq!(offer(&u, Some("A"), None), "");
        // With a server list, the application's header is ignored.
        assert_eq!(offer(&u, Some("c"), Some("c")), "");
        assert_eq!(offer(&u, Some("a"), Some("b")), "a");
        // Without one, the application's header is used as is.
        let u = Upgrader::new();
        assert_eq!(offer(&u, Some("x, y"), Some("y")), "y");
        assert_eq!(offer(&u, Some("x, y"), None), "");
    }

    #[tokio::test]
    async fn custom_error_hook_replaces_the_default() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let u = Upgrader::new().error(move |w, r, status, err| {
            seen.fetch_add(1, Ordering::SeqCst);
            assert_eq!(r.uri().path(), "/chat");
            assert_eq!(r.host(), Some("example.com"));
            let body = format!("{} {}", status.as_u16(), err);
            w.headers_mut()
                .insert("x-hook", HeaderValue::from_static("1"));
            Box::pin(async move {
                compat::http_error(w, &body, StatusCode::IM_A_TEAPOT).await;
            })
        });
        let r = valid()
            .header("origin", "http://evil.example")
            .body(())
            .unwrap();
        let (rec, err) = reject(&u, r, None).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(rec.code(), StatusCode::IM_A_TEAPOT);
        assert_eq!(rec.headers()["x-hook"], "1");
        assert!(!rec.headers().contains_key("sec-websocket-version"));
        assert_eq!(
            rec.body(),
            "403 websocket: request origin not allowed by Upgrader.CheckOrigin\n"
        );
        assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
        // The 426's Upgrade header is set before the hook runs, as in gorilla.
        let mut r = valid().body(()).unwrap();
        r.headers_mut().remove("upgrade");
        let (rec, _) = reject(&u, r, None).await;
        assert_eq!(rec.headers()["upgrade"], "websocket");
    }

    #[tokio::test]
    async fn custom_check_origin() {
        let u = Upgrader::new().check_origin(|r| {
            r.headers()
                .get("origin")
                .is_some_and(|o| o == "https://app.example")
        });
        let r = valid()
            .header("origin", "https://app.example")
            .body(())
            .unwrap();
        accept(&u, r, None);
        // The hook replaces the same-origin rule entirely.
        let r = valid()
            .header("origin", "http://example.com")
            .body(())
            .unwrap();
        let (rec, _) = reject(&u, r, None).await;
        assert_eq!(rec.code(), StatusCode::FORBIDDEN);
        let (rec, _) = reject(&u, valid().body(()).unwrap(), None).await;
        assert_eq!(rec.code(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn hijack_failure_is_500_without_handshake_headers() {
        // A writer that cannot hijack (Go: not an http.Hijacker).
        let mut rec = ResponseRecorder::new();
        rec.headers_mut()
            .insert("x-app", HeaderValue::from_static("kept"));
        let r = valid().body(()).unwrap();
        let err = Upgrader::new()
            .upgrade(&mut rec, &r, None)
            .await
            .unwrap_err();
        assert!(err.is_hijack(), "{err:?}");
        assert_eq!(err.status(), None);
        assert_default_error(&rec, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(rec.headers()["x-app"], "kept");
        for name in ["upgrade", "connection", "sec-websocket-accept"] {
            assert!(!rec.headers().contains_key(name), "{name}");
        }
    }

    #[tokio::test]
    async fn hijack_failure_calls_the_hook_with_the_request() {
        let u = Upgrader::new().error(|w, r, status, err| {
            assert!(err.is_hijack());
            let body = format!("{status} {} {}", r.method(), r.uri());
            Box::pin(async move { compat::http_error(w, &body, status).await })
        });
        let mut rec = ResponseRecorder::new();
        let r = valid().body(()).unwrap();
        let err = u.upgrade(&mut rec, &r, None).await.unwrap_err();
        assert!(err.is_hijack());
        assert_eq!(rec.code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(rec.body(), "500 Internal Server Error GET /chat\n");
    }

    /// A writer whose hijack never completes.
    #[derive(Default)]
    struct StuckWriter {
        headers: HeaderMap,
    }

    impl AsyncWrite for StuckWriter {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl ResponseWriter for StuckWriter {
        fn headers(&self) -> &HeaderMap {
            &self.headers
        }
        fn headers_mut(&mut self) -> &mut HeaderMap {
            &mut self.headers
        }
        fn write_header(&mut self, _: StatusCode) {}
        fn status(&self) -> Option<StatusCode> {
            None
        }
        fn hijack(&mut self) -> HijackFuture<'_> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn hijack_is_bounded_by_the_handshake_timeout() {
        let r = valid().body(()).unwrap();
        let mut w = StuckWriter::default();
        let u = Upgrader::new().handshake_timeout(Duration::from_millis(50));
        let start = std::time::Instant::now();
        let err = u.upgrade(&mut w, &r, None).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(start.elapsed() >= Duration::from_millis(50));

        // Without a timeout it waits for as long as the hijack takes.
        let u = Upgrader::new().handshake_timeout(None);
        let waited =
            tokio::time::timeout(Duration::from_millis(100), u.upgrade(&mut w, &r, None)).await;
        assert!(waited.is_err(), "still waiting");
    }

    fn extended_connect() -> http::request::Builder {
        Request::connect("https://example.com/chat")
            .version(Version::HTTP_2)
            .header("sec-websocket-version", "13")
    }

    #[tokio::test]
    async fn http2_extended_connect() {
        let r = extended_connect()
            .header("sec-websocket-protocol", "chat")
            .body(())
            .unwrap();
        let u = Upgrader::new().subprotocols(["chat"]);
        let (rec, accepted) = accept(&u, r, None);
        let h = rec.headers();
        // RFC 8441: no Upgrade/Connection (forbidden in HTTP/2), no key, no
        // accept value; the writer's hijack answers 200.
        for name in ["upgrade", "connection", "sec-websocket-accept"] {
            assert!(!h.contains_key(name), "{name}");
        }
        assert_eq!(h["sec-websocket-protocol"], "chat");
        assert_eq!(accepted.subprotocol, "chat");

        // The version and origin checks still apply; the host is the
        // authority.
        let r = Request::connect("https://example.com/chat")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        let (rec, _) = reject(&u, r, None).await;
        assert_eq!(rec.code(), StatusCode::BAD_REQUEST);
        let r = extended_connect()
            .header("origin", "https://evil.example")
            .body(())
            .unwrap();
        let (rec, _) = reject(&u, r, None).await;
        assert_eq!(rec.code(), StatusCode::FORBIDDEN);
        let r = extended_connect()
            .header("origin", "https://example.com")
            .body(())
            .unwrap();
        accept(&u, r, None);

        // A CONNECT over HTTP/1.1 is a plain non-GET.
        let r = valid()
            .method(Method::CONNECT)
            .uri("example.com:443")
            .body(())
            .unwrap();
        let (rec, _) = reject(&u, r, None).await;
        assert_eq!(rec.code(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn upgrade_future_is_send_and_does_not_borrow_the_request() {
        fn assert_send<T: Send>(t: T) -> T {
            t
        }
        let u = Upgrader::new();
        let mut rec = ResponseRecorder::new();
        let fut = {
            // axum's body is not Sync, so `&Request<Body>` is not Send.
            let r = Request::new(Body::empty());
            let fut = assert_send(u.upgrade(&mut rec, &r, None));
            drop(r);
            fut
        };
        drop(fut);
    }

    #[test]
    fn defaults_builder_and_debug() {
        let u = Upgrader::default();
        assert_eq!(u.handshake_timeout, Some(Duration::from_secs(10)));
        assert_eq!((u.read_buffer_size, u.write_buffer_size), (0, 0));
        assert!(u.write_buffer_pool.is_none() && u.error.is_none() && u.check_origin.is_none());
        assert!(u.subprotocols.is_empty() && !u.enable_compression);

        struct Pool;
        impl BufferPool for Pool {
            fn get(&self) -> Option<bytes::BytesMut> {
                None
            }
            fn put(&self, _: bytes::BytesMut) {}
        }
        let u = Upgrader::new()
            .handshake_timeout(Duration::from_secs(1))
            .read_buffer_size(1024)
            .write_buffer_size(2048)
            .write_buffer_pool(Arc::new(Pool))
            .subprotocols(vec![String::from("a"), String::from("b")])
            .check_origin(|_| true)
            .error(|w, _, status, _| Box::pin(compat::http_error(w, "x", status)))
            .enable_compression(true)
            .compression_threshold(100);
        let clone = u.clone();
        assert_eq!(clone.handshake_timeout, Some(Duration::from_secs(1)));
        assert_eq!(
            (clone.read_buffer_size, clone.write_buffer_size),
            (1024, 2048)
        );
        assert_eq!(clone.subprotocols, ["a", "b"]);
        assert!(clone.enable_compression);
        assert_eq!(
            format!("{u:?}"),
            "Upgrader { handshake_timeout: Some(1s), read_buffer_size: 1024, \
             write_buffer_size: 2048, write_buffer_pool: Some(BufferPool), \
             subprotocols: [\"a\", \"b\"], error: Some(..), check_origin: Some(..), \
             enable_compression: true, compression: CompressionOptions { \
             server_context_takeover: true, client_context_takeover: true, \
             server_max_window_bits: 15, client_max_window_bits: 15, level: 1, \
             threshold: 100 } }"
        );
        assert!(format!("{:?}", Upgrader::new()).contains("error: None, check_origin: None"));
    }

    #[test]
    fn handshake_request_view() {
        let mut r = Request::get("http://authority.example/x?y")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        r.extensions_mut().insert(compat::RemoteAddr(addr));
        let view = HandshakeRequest::from(&r);
        assert_eq!(view.host(), Some("authority.example"));
        assert_eq!(view.remote_addr(), Some(addr));
        assert_eq!(view.version(), Version::HTTP_2);
        let parts = view.to_parts();
        let copy = HandshakeRequest::from_parts(&parts);
        assert_eq!(copy.uri(), "http://authority.example/x?y");
        assert_eq!(copy.remote_addr(), Some(addr));
        // An absolute-form target's authority wins over `Host`; `Host` serves origin-form.
        r.headers_mut()
            .insert("host", HeaderValue::from_static("header.example"));
        assert_eq!(HandshakeRequest::from(&r).host(), Some("authority.example"));
        *r.uri_mut() = "/x?y".parse().unwrap();
        assert_eq!(HandshakeRequest::from(&r).host(), Some("header.example"));
    }
}
