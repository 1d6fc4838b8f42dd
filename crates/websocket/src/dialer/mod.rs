//! [`Dialer`]: gorilla's `Dialer`, the client side of the opening handshake.
//!
//! The request is written by hand and the response head parsed with `httparse` (`request`,
//! `response`); `tls` adds rustls for `wss://`. The public docs are on [`Dialer`], since this
//! module is private.

mod request;
mod response;
#[cfg(feature = "rustls")]
mod tls;

use std::{fmt, future::Future, io, pin::Pin, sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use compat::Hijacked;
use http::{HeaderMap, Response};
use tokio::{net::TcpStream, time::Instant};

use crate::{
    BufferPool, CompressionOptions, Conn, Error, compression,
    conn::{ConnConfig, Role},
};
use request::Target;

/// The future a [`NetDial`] function returns: the connected stream.
pub type DialFuture = Pin<Box<dyn Future<Output = io::Result<Hijacked>> + Send>>;

/// The [`Dialer::net_dial`] function (gorilla's `NetDialContext`): connects to
/// `host:port` (the default port filled in; an IPv6 host in brackets).
///
/// Return [`Hijacked::from_tcp`]`(stream, Bytes::new())` for a TCP
/// connection (reads and writes then skip a boxed indirection) and
/// [`Hijacked::new`] for anything else. For `wss://` the dialer runs TLS over
/// what this returns. The [`handshake_timeout`](Dialer::handshake_timeout)
/// covers it: the future is dropped when the time is up.
#[doc(alias = "NetDialContext")]
pub type NetDial = Arc<dyn Fn(String) -> DialFuture + Send + Sync>;

/// Opens client WebSocket connections (gorilla's `Dialer`).
///
/// [`Dialer::dial`] connects (TCP, or the [`net_dial`](Dialer::net_dial)
/// function), runs TLS for `wss://` (feature `rustls`), writes the HTTP/1.1
/// upgrade request, reads the response with `httparse` and checks it:
///
/// | check, in order | failure |
/// |---|---|
/// | `url` is `ws://` or `wss://` (or `http`/`https`), without user information or fragment | [`Error::is_invalid_argument`]: `websocket: malformed ws or wss URL` |
/// | the caller's headers repeat no handshake header | [`Error::is_invalid_argument`]: `websocket: duplicate header not allowed: Sec-Websocket-Key` |
/// | connecting (and TLS) succeeds | [`Error::is_io`] |
/// | the server answers HTTP | [`Error::is_handshake`] (an EOF first: [`Error::is_io`]) |
/// | status `101` | [`Error::is_handshake`], with [`Error::response`]: status, headers and the first [`MAX_ERROR_BODY`](Dialer::MAX_ERROR_BODY) bytes of the body |
/// | `Upgrade` has the `websocket` token, `Connection` the `upgrade` token | the same |
/// | `Sec-WebSocket-Accept` matches the key sent | the same |
/// | a `Sec-WebSocket-Protocol` answer is one of the subprotocols offered | the same |
/// | a `Sec-WebSocket-Extensions` answer is only what was offered: nothing, or a valid `permessage-deflate` answer to our offer when [`enable_compression`](Dialer::enable_compression) is set | the same |
/// | everything within [`handshake_timeout`](Dialer::handshake_timeout) | [`Error::is_timeout`] |
///
/// The status, `Upgrade`, `Connection` and `Sec-WebSocket-Accept` checks are
/// gorilla's. The subprotocol and extension checks are RFC 6455's (section
/// 4.1) and RFC 7692's (section 7.1), which gorilla does not make. Bytes the
/// server sent right behind its `101` (its first frames) are kept and read by
/// the [`Conn`] first.
///
/// The connection is a client [`Conn`]: every frame it writes is masked with a
/// fresh random key (RFC 6455 section 5.3), and it refuses masked frames from
/// the server.
///
/// ```no_run
/// use http::{HeaderMap, HeaderValue};
/// use websocket::{Dialer, MessageType};
///
/// # async fn run() -> Result<(), websocket::Error> {
/// let dialer = Dialer::new().subprotocols(["chat.v2"]);
/// let mut headers = HeaderMap::new();
/// headers.insert("origin", HeaderValue::from_static("https://app.example"));
/// headers.insert("authorization", HeaderValue::from_static("Bearer 7f3a"));
///
/// // c, resp, err := dialer.Dial("ws://localhost:8080/echo", headers)
/// let (conn, response) = dialer.dial("ws://localhost:8080/echo", Some(&headers)).await?;
/// println!("{} subprotocol {:?}", response.status(), conn.subprotocol());
/// conn.write_message(MessageType::Text, b"hello").await?;
/// let (_, reply) = conn.read_message().await?;
/// println!("recv: {}", String::from_utf8_lossy(&reply));
/// # Ok(())
/// # }
/// ```
///
/// Not ported from gorilla: `Proxy` (dial the proxy in
/// [`net_dial`](Dialer::net_dial)) and `Jar` (send a `Cookie` header; read
/// `Set-Cookie` from the response).
///
/// The fields are public, as in Go, and each has a builder method.
/// [`Dialer::default()`] is gorilla's `DefaultDialer` (a 45 s handshake
/// timeout), less its proxy from the environment.
#[derive(Clone)]
pub struct Dialer {
    /// Connects to the server (gorilla's `NetDialContext`). `None` uses
    /// [`TcpStream::connect`] (with `TCP_NODELAY`: messages are written
    /// whole, Nagle would only delay their last segment).
    pub net_dial: Option<NetDial>,
    /// The TLS configuration for `wss://` (gorilla's `TLSClientConfig`), e.g.
    /// with private roots or client certificates. `None` uses the Mozilla
    /// roots from `webpki-roots`. Its `alpn_protocols` must be empty or
    /// offer `http/1.1`: the handshake is HTTP/1.1.
    #[cfg(feature = "rustls")]
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    /// How long the whole handshake may take: connecting, TLS, request and
    /// response. `None` waits forever. Defaults to
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](Self::DEFAULT_HANDSHAKE_TIMEOUT).
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
    /// The subprotocols to offer, in order of preference. When empty, a
    /// `Sec-WebSocket-Protocol` header passed to [`dial`](Self::dial) is sent
    /// as is; when not, passing one is an error.
    pub subprotocols: Vec<String>,
    /// Whether to offer per-message compression (RFC 7692,
    /// `permessage-deflate`; gorilla's `EnableCompression`). The offer follows
    /// [`compression`](Self::compression); a server that does not answer it
    /// gives an uncompressed connection, one that answers it wrongly a failed
    /// handshake.
    pub enable_compression: bool,
    /// How to compress when compression is negotiated: context takeover and
    /// window size in each direction, level, and the size under which messages
    /// go out uncompressed. Unlike gorilla, which only offers no context
    /// takeover, the default keeps the context whenever the server agrees.
    /// See [`CompressionOptions`].
    pub compression: CompressionOptions,
}

impl Default for Dialer {
    fn default() -> Self {
        Dialer {
            net_dial: None,
            #[cfg(feature = "rustls")]
            tls_config: None,
            handshake_timeout: Some(Self::DEFAULT_HANDSHAKE_TIMEOUT),
            read_buffer_size: 0,
            write_buffer_size: 0,
            write_buffer_pool: None,
            subprotocols: Vec::new(),
            enable_compression: false,
            compression: CompressionOptions::default(),
        }
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Dialer");
        d.field(
            "net_dial",
            &format_args!(
                "{}",
                if self.net_dial.is_some() {
                    "Some(..)"
                } else {
                    "None"
                }
            ),
        );
        #[cfg(feature = "rustls")]
        d.field("tls_config", &self.tls_config);
        d.field("handshake_timeout", &self.handshake_timeout)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("write_buffer_pool", &self.write_buffer_pool)
            .field("subprotocols", &self.subprotocols)
            .field("enable_compression", &self.enable_compression)
            .field("compression", &self.compression)
            .finish()
    }
}

/// How long to wait for the body of a refused handshake: it is only read to
/// help debugging, so a server that stalls must not hold the caller.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(1);

impl Dialer {
    /// The default [`handshake_timeout`](Self::handshake_timeout): 45 seconds,
    /// gorilla's `DefaultDialer`.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(45);

    /// The most body bytes of a refused handshake kept in
    /// [`Error::response`]: 1 KiB, as gorilla.
    pub const MAX_ERROR_BODY: usize = 1024;

    /// A dialer with the defaults (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`net_dial`](Self::net_dial).
    ///
    /// ```no_run
    /// use bytes::Bytes;
    /// use compat::Hijacked;
    ///
    /// // Always connect to a local relay, whatever the URL's host.
    /// let dialer = websocket::Dialer::new().net_dial(|_host_port: String| async move {
    ///     let stream = tokio::net::TcpStream::connect("127.0.0.1:7000").await?;
    ///     stream.set_nodelay(true)?;
    ///     Ok(Hijacked::from_tcp(stream, Bytes::new()))
    /// });
    /// # drop(dialer);
    /// ```
    pub fn net_dial<F, Fut>(mut self, dial: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<Hijacked>> + Send + 'static,
    {
        self.net_dial = Some(Arc::new(move |host_port| {
            Box::pin(dial(host_port)) as DialFuture
        }));
        self
    }

    /// Sets [`tls_config`](Self::tls_config).
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls_config = Some(config);
        self
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

    /// Sets [`subprotocols`](Self::subprotocols), in order of preference.
    pub fn subprotocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
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

    /// Opens a WebSocket connection to `url` (gorilla's `Dial`/`DialContext`).
    ///
    /// `url` is `ws://host[:port]/path?query` or `wss://...` (`http` and
    /// `https` are accepted as aliases, unlike gorilla; default ports 80 and
    /// 443). `headers` go out with the request: `Origin`, `Cookie`,
    /// `Authorization`, ...; a `Host` header replaces the URL's authority. The
    /// handshake headers (`Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version`, `Sec-WebSocket-Extensions`, and
    /// `Sec-WebSocket-Protocol` when [`subprotocols`](Self::subprotocols) is
    /// set) are refused with [`Error::is_invalid_argument`], as gorilla
    /// refuses them.
    ///
    /// Returns the connection and the server's `101` response (read
    /// `Set-Cookie` or the selected `Sec-WebSocket-Protocol` there). On a
    /// refused handshake the error is [`Error::is_handshake`] and, when the
    /// server answered HTTP, [`Error::response`] holds its response, so a
    /// redirect or an authentication challenge can be handled. See
    /// [`Dialer`] for every check.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the handshake and closes the connection.
    pub async fn dial(
        &self,
        url: &str,
        headers: Option<&HeaderMap>,
    ) -> Result<(Conn, Response<()>), Error> {
        let target = Target::parse(url)?;
        #[cfg(not(feature = "rustls"))]
        if target.tls {
            return Err(Error::invalid_argument(
                "wss:// needs the websocket crate's `rustls` feature",
            ));
        }
        let key = request::new_challenge_key();
        let extensions_offer = self
            .enable_compression
            .then(|| compression::client_offer(&self.compression));
        let (request, offer) = request::build_request(
            &target,
            &key,
            &self.subprotocols,
            extensions_offer.as_ref().map(|v| v.as_bytes()),
            headers,
        )?;
        let deadline = self.handshake_timeout.map(|t| Instant::now() + t);

        let (mut io, mut buf, response) = within(deadline, async {
            let mut io = self.connect(&target).await?;
            write_all(&mut io, &request).await?;
            let mut buf = BytesMut::with_capacity(4096);
            let response = response::read_head(&mut io, &mut buf).await?;
            Ok((io, buf, response))
        })
        .await?;

        let checked = request::check_response(&response, &key, &offer)
            .map_err(Error::bad_handshake)
            .and_then(|subprotocol| {
                let compression = if offer.extensions {
                    compression::client_accept(response.headers(), &self.compression)?
                } else {
                    None
                };
                Ok((subprotocol, compression))
            });
        let (subprotocol, compression) = match checked {
            Ok(checked) => checked,
            Err(err) => {
                // Keep the start of the body to aid debugging, as gorilla
                // does, but only briefly: the handshake has failed already.
                let mut body = Vec::new();
                let body_deadline = Instant::now() + ERROR_BODY_TIMEOUT;
                let body_deadline = deadline.map_or(body_deadline, |d| d.min(body_deadline));
                let _ = tokio::time::timeout_at(
                    body_deadline,
                    response::read_error_body(
                        &mut io,
                        &response,
                        buf,
                        Self::MAX_ERROR_BODY,
                        &mut body,
                    ),
                )
                .await;
                return Err(err.with_response(response::with_body(response, body)));
            }
        };

        // The server's first frames may have arrived with its head.
        let leftover = buf.split().freeze();
        let io = io.with_read_buf(leftover);
        let conn = Conn::new(
            io,
            ConnConfig {
                role: Role::Client,
                subprotocol,
                read_buffer_size: self.read_buffer_size,
                write_buffer_size: self.write_buffer_size,
                write_buffer_pool: self.write_buffer_pool.clone(),
                local_addr: None,
                remote_addr: None,
                compression,
            },
        );
        Ok((conn, response))
    }

    /// The connection the handshake runs on: dialed, and TLS for `wss://`.
    async fn connect(&self, target: &Target) -> Result<Hijacked, Error> {
        let io = match &self.net_dial {
            Some(dial) => dial(target.host_port.clone()).await?,
            None => {
                let stream = TcpStream::connect(&target.host_port).await?;
                stream.set_nodelay(true)?;
                Hijacked::from_tcp(stream, Bytes::new())
            }
        };
        #[cfg(feature = "rustls")]
        if target.tls {
            return tls::connect(self.tls_config.as_ref(), target.server_name(), io).await;
        }
        Ok(io)
    }
}

/// Runs `fut`, failing with [`Error::timeout`] at `deadline`.
async fn within<T>(
    deadline: Option<Instant>,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, fut)
            .await
            .unwrap_or_else(|_| Err(Error::timeout())),
        None => fut.await,
    }
}

async fn write_all(io: &mut Hijacked, bytes: &[u8]) -> Result<(), Error> {
    use tokio::io::AsyncWriteExt;
    io.write_all(bytes).await?;
    io.flush().await?;
    Ok(())
}
