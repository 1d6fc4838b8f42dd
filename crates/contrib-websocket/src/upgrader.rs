//! [`HertzUpgrader`]: hertz-contrib's upgrader, on the new path.
//!
//! The checks are listed on [`HertzUpgrader::upgrade`].
//!
//! # Delegating to the new path
//!
//! After the checks, the request is handed to a [`compat::handler`] whose handler runs a
//! [`websocket::Upgrader`] configured so that it cannot reject what Hertz accepted:
//!
//! * its origin check accepts everything (Hertz's ran already, with the legacy hook);
//! * its `subprotocols` list is empty and the protocol picked here, in the server's order, is
//!   passed as the `Sec-WebSocket-Protocol` response header, which the new upgrader then uses
//!   as is;
//! * Hertz accepts any non-empty key, the new path only base64 of 16 bytes. The new path is
//!   given the RFC 6455 sample key in place of the client's, and the `Sec-WebSocket-Accept`
//!   of the `101` is then recomputed from the client's own key before the response leaves;
//! * its error hook writes nothing: a failure after the checks (the connection cannot be
//!   taken over) comes back to [`upgrade`](HertzUpgrader::upgrade), which calls the legacy
//!   hook with the real [`RequestContext`].

use std::{
    fmt,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::body::Body;
use compat::{BoxFuture, ResponseWriter};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use tokio::sync::oneshot;

use crate::{BufferPool, Conn, Error, RequestContext, pool::PoolAdapter};

/// **Deprecated:** use [`websocket::CheckOrigin`] (it receives a
/// [`websocket::HandshakeRequest`]).
///
/// The [`HertzUpgrader::check_origin`] hook (Go: `func(ctx *app.RequestContext) bool`): `true`
/// accepts the request's origin.
#[deprecated(
    note = "hertz-contrib/websocket is deprecated: use websocket::Upgrader::check_origin; see MIGRATION.md"
)]
pub type CheckOrigin = Arc<dyn Fn(&RequestContext) -> bool + Send + Sync>;

/// **Deprecated:** use [`websocket::ErrorHook`] (it writes to a [`compat::ResponseWriter`]).
///
/// The [`HertzUpgrader::error`] hook (Go: `func(ctx *app.RequestContext, status int, reason
/// error)`): writes the error response into the context, e.g. with
/// [`abort_with_msg`](RequestContext::abort_with_msg).
#[deprecated(
    note = "hertz-contrib/websocket is deprecated: use websocket::Upgrader::error; see MIGRATION.md"
)]
pub type ErrorHook = Arc<dyn Fn(&mut RequestContext, StatusCode, &Error) + Send + Sync>;

/// **Deprecated:** use [`websocket::Upgrader`] through [`compat::handler`]; see `MIGRATION.md`.
///
/// hertz-contrib's `HertzUpgrader`: the same fields, and an
/// [`upgrade(ctx, handler)`](Self::upgrade) that checks the request, answers it, and runs the
/// handler with the connection once the handshake is done. Like Go's zero value,
/// [`HertzUpgrader::default()`] is `websocket.HertzUpgrader{}` ("use default options");
/// set fields with struct update syntax:
///
/// ```
/// use std::sync::Arc;
///
/// use contrib_websocket::{HertzUpgrader, RequestContext};
/// use http::{HeaderValue, StatusCode};
///
/// let upgrader = HertzUpgrader {
///     subprotocols: vec!["chat.v2".into(), "chat.v1".into()],
///     check_origin: Some(Arc::new(|c: &RequestContext| {
///         c.request_headers()
///             .get("origin")
///             .is_none_or(|origin| origin == "https://app.example.com")
///     })),
///     // The Hertz docs' sample hook.
///     error: Some(Arc::new(|c: &mut RequestContext, status: StatusCode, reason| {
///         c.response_headers_mut()
///             .insert("sec-websocket-version", HeaderValue::from_static("13"));
///         c.abort_with_msg(&reason.to_string(), status);
///     })),
///     ..Default::default()
/// };
/// # drop(upgrader);
/// ```
#[deprecated(
    note = "hertz-contrib/websocket is deprecated: use websocket::Upgrader through compat::handler; see MIGRATION.md"
)]
#[derive(Clone, Default)]
pub struct HertzUpgrader {
    /// How long taking the connection over may take, once the checks passed; zero (the
    /// default, as in Go) waits as long as it takes. Hertz's last release declares this field
    /// and never reads it; here it bounds the new path's hijack, as gorilla's does.
    pub handshake_timeout: Duration,
    /// The connection's read buffer size in bytes; 0 picks a default. It does not limit the
    /// size of messages.
    pub read_buffer_size: usize,
    /// The connection's write buffer size in bytes; 0 picks a default. It does not limit the
    /// size of messages.
    pub write_buffer_size: usize,
    /// A pool to borrow write buffers from while a message is written. Use one pool for all
    /// connections with the same `write_buffer_size`.
    pub write_buffer_pool: Option<Arc<dyn BufferPool>>,
    /// The protocols the server supports, in order of preference: the first of them that the
    /// client offers is selected (Hertz's order, the server's). With no match, none is. When
    /// empty, a `Sec-WebSocket-Protocol` set on the context's response headers is sent as is
    /// (Go distinguishes a nil from an empty list here; Rust cannot, and both mean "none").
    pub subprotocols: Vec<String>,
    /// Writes the response for a failed upgrade into the context. `None` sends Hertz's
    /// default: `Sec-Websocket-Version: 13` and the status's reason phrase as a plain-text body.
    pub error: Option<ErrorHook>,
    /// Decides whether the request's origin is acceptable. `None` uses the safe default: an
    /// `Origin` header, when present and not empty, must name the request's host (`host[:port]`,
    /// compared case-insensitively).
    pub check_origin: Option<CheckOrigin>,
    /// Whether to negotiate per-message compression (RFC 7692) when the client offers it. The
    /// negotiation is the new path's, so both paths answer the same offer the same way.
    pub enable_compression: bool,
}

impl fmt::Debug for HertzUpgrader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Option<Arc<dyn Fn>>` has no Debug; show whether a hook is set.
        struct Hook(bool);
        impl fmt::Debug for Hook {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(if self.0 { "Some(..)" } else { "None" })
            }
        }
        f.debug_struct("HertzUpgrader")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field("write_buffer_pool", &self.write_buffer_pool)
            .field("subprotocols", &self.subprotocols)
            .field("error", &Hook(self.error.is_some()))
            .field("check_origin", &Hook(self.check_origin.is_some()))
            .field("enable_compression", &self.enable_compression)
            .finish()
    }
}

/// The key the new path is shown in place of the client's (the sample of RFC 6455 1.3): valid
/// for its strict check, whatever the client sent.
const PLACEHOLDER_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl HertzUpgrader {
    /// Upgrades the request to a WebSocket connection and runs `handler` with it (Hertz's
    /// `Upgrade(ctx, handler)`).
    ///
    /// On success the context's response becomes the `101 Switching Protocols` (return it from
    /// the axum handler: `c.into_response()`), and once hyper has sent it and handed the
    /// connection over, `handler` runs with the [`Conn`] in a task of its own; the connection
    /// is closed when `handler`'s future ends (as Hertz closes it when the hijack handler
    /// returns). The returned future resolves as soon as the `101` is ready, before `handler`
    /// starts: do not wait for the callback inside the axum handler, hyper completes the
    /// upgrade only after the response is returned.
    ///
    /// On failure the context holds the error response (written by the
    /// [`error`](Self::error) hook, or Hertz's default) and the error is returned; `handler`
    /// never runs; see [Checks](#checks).
    ///
    /// If hyper fails to complete the upgrade after the `101` was sent (the client went away),
    /// `handler` does not run either; that is logged at `debug` level.
    ///
    /// # Checks
    ///
    /// | check | status | error message |
    /// |---|---|---|
    /// | method is `GET` | 405 | `websocket: the client is not using the websocket protocol:  request method is not GET` |
    /// | the first `Connection` header has the `upgrade` token | 400 | `...:  'upgrade' token not found in 'Connection' header` |
    /// | the first `Upgrade` header has the `websocket` token | 400 | `...:  'websocket' token not found in 'Upgrade' header` |
    /// | the first `Sec-WebSocket-Version` header has `13` | 400 | `websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header` |
    /// | the response headers have no `Sec-WebSocket-Extensions` | 500 | `websocket: application specific 'Sec-WebSocket-Extensions' headers are unsupported` |
    /// | the origin is allowed ([`check_origin`](HertzUpgrader::check_origin)) | 403 | `websocket: request origin not allowed by HertzUpgrader.CheckOrigin` |
    /// | `Sec-WebSocket-Key` is not empty | 400 | ``websocket: not a websocket handshake: `Sec-WebSocket-Key' header is missing or blank`` |
    /// | the connection can be taken over | 500 | the new path's [`websocket::Error`] |
    ///
    /// The messages are Hertz's, verbatim (the doubled space comes from Hertz formatting
    /// `"%s request..."` after a prefix that already ends in a space); log lines and tests that
    /// match them keep working.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use std::sync::LazyLock;
    ///
    /// use axum::response::Response;
    /// use contrib_websocket::{HertzUpgrader, RequestContext};
    ///
    /// static UPGRADER: LazyLock<HertzUpgrader> = LazyLock::new(HertzUpgrader::default);
    ///
    /// async fn echo(mut c: RequestContext) -> Response {
    ///     let result = UPGRADER
    ///         .upgrade(&mut c, |conn| async move {
    ///             while let Ok((mt, message)) = conn.read_message().await {
    ///                 if conn.write_message(mt, &message).await.is_err() {
    ///                     break;
    ///                 }
    ///             }
    ///         })
    ///         .await;
    ///     if let Err(err) = result {
    ///         tracing::warn!("upgrade: {err}");
    ///     }
    ///     c.into_response()
    /// }
    /// # let _: axum::Router = axum::Router::new().route("/echo", axum::routing::get(echo));
    /// ```
    pub async fn upgrade<F, Fut>(&self, c: &mut RequestContext, handler: F) -> Result<(), Error>
    where
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if c.hijacked() {
            // The response already is a 101; leave it alone. (The message is the one Hertz's
            // first releases used for the same mistake.)
            return Err(Error::handshake(
                StatusCode::INTERNAL_SERVER_ERROR,
                "connection mustn't be hijacked",
            ));
        }
        let key = match self.check(c) {
            Ok(key) => key,
            Err(err) => {
                self.return_error(c, &err);
                return Err(err);
            }
        };

        let mut response_headers = c.response_headers().clone();
        response_headers.remove(header::SEC_WEBSOCKET_PROTOCOL);
        if let Some(protocol) = self.select_subprotocol(c) {
            response_headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        let mut request = c.to_request();
        request.headers_mut().insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static(PLACEHOLDER_KEY),
        );

        let (failed_tx, failed_rx) = oneshot::channel();
        let delegate = Delegate {
            upgrader: self.new_path_upgrader(),
            once: Mutex::new(Some(Once {
                response_headers,
                handler,
                failed: failed_tx,
            })),
        };
        let response = compat::handler(delegate).serve(request).await;

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // The body of a 101 is empty; only the head goes back to hyper.
            let (mut head, _empty) = response.into_parts();
            let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
            let accept = HeaderValue::try_from(accept).expect("base64 is a valid header value");
            head.headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
            c.set_upgraded(head);
            return Ok(());
        }
        // The new path failed before committing a head: its (silent) error hook ran, the
        // delegate sent the error, and only then did compat answer with the empty response
        // of a handler that wrote nothing. So the error is already there, or the delegate's
        // task panicked and dropped the sender.
        let err = match failed_rx.await {
            Ok(err) => Error::upgrade(err),
            Err(_) => Error::aborted(),
        };
        self.return_error(c, &err);
        Err(err)
    }

    /// Hertz's checks, in Hertz's order. Returns the client's key.
    fn check(&self, c: &RequestContext) -> Result<HeaderValue, Error> {
        let headers = c.request_headers();
        let fail = |status, message: &'static str| Err(Error::handshake(status, message));
        if !c.is_get() {
            return fail(
                StatusCode::METHOD_NOT_ALLOWED,
                "websocket: the client is not using the websocket protocol:  request method is not GET",
            );
        }
        if !first_has_token(headers, header::CONNECTION, "upgrade") {
            return fail(
                StatusCode::BAD_REQUEST,
                "websocket: the client is not using the websocket protocol:  'upgrade' token not found in 'Connection' header",
            );
        }
        if !first_has_token(headers, header::UPGRADE, "websocket") {
            return fail(
                StatusCode::BAD_REQUEST,
                "websocket: the client is not using the websocket protocol:  'websocket' token not found in 'Upgrade' header",
            );
        }
        if !first_has_token(headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return fail(
                StatusCode::BAD_REQUEST,
                "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header",
            );
        }
        if c.response_headers()
            .get(header::SEC_WEBSOCKET_EXTENSIONS)
            .is_some_and(|v| !v.is_empty())
        {
            return fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "websocket: application specific 'Sec-WebSocket-Extensions' headers are unsupported",
            );
        }
        let origin_ok = match &self.check_origin {
            Some(check) => check(c),
            None => same_origin(c),
        };
        if !origin_ok {
            return fail(
                StatusCode::FORBIDDEN,
                "websocket: request origin not allowed by HertzUpgrader.CheckOrigin",
            );
        }
        // Hertz's whole key check: present and not blank. No base64, no length.
        match headers.get(header::SEC_WEBSOCKET_KEY) {
            Some(key) if !key.is_empty() => Ok(key.clone()),
            _ => fail(
                StatusCode::BAD_REQUEST,
                "websocket: not a websocket handshake: `Sec-WebSocket-Key' header is missing or blank",
            ),
        }
    }

    /// Hertz's choice: the first of the server's protocols that the client offers (in the
    /// first `Sec-WebSocket-Protocol` header, comma-separated); with no server list, the
    /// protocol the application put on the response headers.
    fn select_subprotocol(&self, c: &RequestContext) -> Option<HeaderValue> {
        if self.subprotocols.is_empty() {
            return c
                .response_headers()
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .cloned();
        }
        let offer = c
            .request_headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .map_or(&[][..], HeaderValue::as_bytes);
        let offered = || offer.split(|&b| b == b',').map(<[u8]>::trim_ascii);
        self.subprotocols
            .iter()
            .find(|protocol| offered().any(|o| o == protocol.as_bytes()))
            .and_then(|protocol| HeaderValue::from_str(protocol).ok())
    }

    /// Hertz's `returnError`: the hook, or `Sec-Websocket-Version: 13` and the reason phrase.
    fn return_error(&self, c: &mut RequestContext, err: &Error) {
        let status = err.status();
        match &self.error {
            Some(hook) => hook(c, status, err),
            None => {
                c.response_headers_mut().insert(
                    HeaderName::from_static("sec-websocket-version"),
                    HeaderValue::from_static("13"),
                );
                c.abort_with_msg(status.canonical_reason().unwrap_or(""), status);
            }
        }
    }

    /// The new path's upgrader for a request that passed Hertz's checks (see the module docs
    /// for why each setting cannot reject it). Built per upgrade because the fields are public
    /// and may change between calls, as in Go; it is a handful of `Arc` clones.
    fn new_path_upgrader(&self) -> websocket::Upgrader {
        let timeout = (!self.handshake_timeout.is_zero()).then_some(self.handshake_timeout);
        let upgrader = websocket::Upgrader::new()
            .handshake_timeout(timeout)
            .read_buffer_size(self.read_buffer_size)
            .write_buffer_size(self.write_buffer_size)
            .check_origin(|_| true)
            .error(|_w, _r, _status, _err| Box::pin(std::future::ready(())))
            .enable_compression(self.enable_compression);
        match &self.write_buffer_pool {
            Some(pool) => upgrader.write_buffer_pool(Arc::new(PoolAdapter(pool.clone()))),
            None => upgrader,
        }
    }
}

/// Hertz's `tokenContainsValue` on the first `name` header: whether its comma-separated tokens
/// include `value`, ASCII case-insensitively. Like Hertz, the list ends at the first element
/// that is not a single token (an empty one included), and later header lines are not read.
fn first_has_token(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    let Some(list) = headers.get(name) else {
        return false;
    };
    for element in list.as_bytes().split(|&b| b == b',') {
        let element = element.trim_ascii();
        if element.is_empty() || !element.iter().all(|&b| is_tchar(b)) {
            return false;
        }
        if element.eq_ignore_ascii_case(value.as_bytes()) {
            return true;
        }
    }
    false
}

/// `tchar` of RFC 7230 section 3.2.6.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Hertz's default origin check: no (or an empty) `Origin` passes; otherwise its host must equal
/// the request's host, ASCII case-insensitively.
fn same_origin(c: &RequestContext) -> bool {
    let Some(origin) = c.request_headers().get(header::ORIGIN) else {
        return true;
    };
    if origin.is_empty() {
        return true;
    }
    let Some(host) = origin.to_str().ok().and_then(origin_host) else {
        return false;
    };
    host.eq_ignore_ascii_case(c.host().unwrap_or(""))
}

/// The `host[:port]` of a URL as Go's `url.Parse(s).Host` reads it for the shapes an `Origin`
/// takes: the authority after `scheme://`, without user info; empty for a URL without an
/// authority (`null`). `None` for a string Go refuses (control characters, a bad scheme).
fn origin_host(url: &str) -> Option<&str> {
    if url.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    let Some((scheme, rest)) = url.split_once(':') else {
        return Some(""); // a bare path, such as `null`
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return None; // Go: "first path segment in URL cannot contain colon"
    }
    let Some(rest) = rest.strip_prefix("//") else {
        return Some(""); // `scheme:opaque`
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    Some(
        authority
            .rsplit_once('@')
            .map_or(authority, |(_user, host)| host),
    )
}

/// The new path, as a compat handler: upgrade, then run the legacy callback with the `Conn`.
struct Delegate<F> {
    upgrader: websocket::Upgrader,
    /// Taken by the one request this handler serves. A `Mutex` because `compat::Handler`
    /// serves through `&self` while the callback is `FnOnce`.
    once: Mutex<Option<Once<F>>>,
}

struct Once<F> {
    response_headers: HeaderMap,
    handler: F,
    /// Reports a failure that happened before the head was committed.
    failed: oneshot::Sender<websocket::Error>,
}

impl<F, Fut> compat::Handler for Delegate<F>
where
    F: FnOnce(Conn) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn serve_http<'a>(&'a self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> BoxFuture<'a> {
        let once = self
            .once
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Box::pin(async move {
            let Some(Once {
                response_headers,
                handler,
                failed,
            }) = once
            else {
                return;
            };
            // The upgrade future does not borrow the request: it can go now.
            let upgrading = self.upgrader.upgrade(w, &r, Some(response_headers));
            drop(r);
            match upgrading.await {
                Ok(conn) => handler(conn).await,
                Err(err) => {
                    if let Err(err) = failed.send(err) {
                        // `upgrade` already returned the 101: hyper could not complete the
                        // upgrade (client gone) or the handshake timeout hit.
                        tracing::debug!("websocket: upgrade failed after the 101: {err}");
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const BAD: &str = "websocket: the client is not using the websocket protocol:  ";

    fn valid() -> http::request::Builder {
        Request::get("/echo")
            .header("host", "example.com")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    }

    fn context(builder: http::request::Builder) -> RequestContext {
        RequestContext::from(builder.body(()).unwrap())
    }

    /// A valid request with one header replaced.
    fn valid_with(name: &'static str, value: &'static str) -> http::request::Builder {
        let mut builder = valid();
        builder
            .headers_mut()
            .unwrap()
            .insert(name, HeaderValue::from_static(value));
        builder
    }

    async fn body(c: RequestContext) -> (StatusCode, HeaderMap, String) {
        let response = c.into_response();
        let (head, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            head.status,
            head.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    /// Runs an upgrade that must fail; the callback must not run.
    async fn reject(u: &HertzUpgrader, mut c: RequestContext) -> (RequestContext, Error) {
        let err = u
            .upgrade(&mut c, |_conn| async {
                panic!("the callback must not run")
            })
            .await
            .unwrap_err();
        (c, err)
    }

    #[tokio::test]
    async fn checks_in_hertz_order() {
        let u = HertzUpgrader::default();
        // Each step breaks one more thing than is checked before it, so the status shows which
        // check ran first. Step 0 breaks everything: the method comes first in Hertz.
        let cases: [(http::request::Builder, StatusCode, String); 7] = [
            (
                Request::post("/echo").header("host", "example.com"),
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{BAD}request method is not GET"),
            ),
            (
                Request::get("/echo").header("host", "example.com"),
                StatusCode::BAD_REQUEST,
                format!("{BAD}'upgrade' token not found in 'Connection' header"),
            ),
            (
                Request::get("/echo")
                    .header("host", "example.com")
                    .header("connection", "upgrade"),
                StatusCode::BAD_REQUEST,
                format!("{BAD}'websocket' token not found in 'Upgrade' header"),
            ),
            (
                Request::get("/echo")
                    .header("host", "example.com")
                    .header("connection", "upgrade")
                    .header("upgrade", "WebSocket"),
                StatusCode::BAD_REQUEST,
                "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"
                    .into(),
            ),
            (
                Request::get("/echo")
                    .header("host", "example.com")
                    .header("connection", "upgrade")
                    .header("upgrade", "WebSocket")
                    .header("sec-websocket-version", "13")
                    .header("origin", "http://evil.example"),
                StatusCode::FORBIDDEN,
                "websocket: request origin not allowed by HertzUpgrader.CheckOrigin".into(),
            ),
            (
                Request::get("/echo")
                    .header("host", "example.com")
                    .header("connection", "upgrade")
                    .header("upgrade", "WebSocket")
                    .header("sec-websocket-version", "13")
                    .header("origin", "http://EXAMPLE.com"),
                StatusCode::BAD_REQUEST,
                "websocket: not a websocket handshake: `Sec-WebSocket-Key' header is missing or blank"
                    .into(),
            ),
            (
                valid_with("sec-websocket-key", ""),
                StatusCode::BAD_REQUEST,
                "websocket: not a websocket handshake: `Sec-WebSocket-Key' header is missing or blank"
                    .into(),
            ),
        ];
        for (step, (request, status, message)) in cases.into_iter().enumerate() {
            let (c, err) = reject(&u, context(request)).await;
            assert!(err.is_handshake(), "step {step}");
            assert_eq!(err.status(), status, "step {step}");
            assert_eq!(err.to_string(), message, "step {step}");
            // Hertz's default error response.
            let (code, headers, text) = body(c).await;
            assert_eq!(code, status, "step {step}");
            assert_eq!(headers["sec-websocket-version"], "13");
            assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
            assert_eq!(text, status.canonical_reason().unwrap());
        }
    }

    #[tokio::test]
    async fn application_extensions_are_a_500() {
        let mut c = context(valid());
        c.response_headers_mut().insert(
            "sec-websocket-extensions",
            HeaderValue::from_static("x-custom"),
        );
        let (_, err) = reject(&HertzUpgrader::default(), c).await;
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(err.to_string().contains("'Sec-WebSocket-Extensions'"));
    }

    #[test]
    fn token_lists_read_like_hertz() {
        let check = |value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("connection", HeaderValue::from_static(value));
            first_has_token(&h, header::CONNECTION, "upgrade")
        };
        assert!(check("Upgrade"));
        assert!(check("keep-alive,  UPGRADE "));
        assert!(!check("keep-alive"));
        assert!(!check(""));
        // The list ends at a malformed element, as in Hertz.
        assert!(!check("keep-alive, , upgrade"));
        assert!(!check("x y, upgrade"));
        assert!(!check("upgraded"));
        // Only the first header line counts.
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("keep-alive"));
        h.append("connection", HeaderValue::from_static("upgrade"));
        assert!(!first_has_token(&h, header::CONNECTION, "upgrade"));
    }

    #[test]
    fn origin_hosts() {
        assert_eq!(origin_host("http://example.com"), Some("example.com"));
        assert_eq!(
            origin_host("https://a.example:8443/x?y#z"),
            Some("a.example:8443")
        );
        assert_eq!(
            origin_host("http://user:pw@host.example"),
            Some("host.example")
        );
        assert_eq!(origin_host("null"), Some(""));
        assert_eq!(origin_host("mailto:x@example.com"), Some(""));
        assert_eq!(origin_host("1http://example.com"), None);
        assert_eq!(origin_host("http://exa\tmple.com"), None);
    }

    #[tokio::test]
    async fn default_origin_rule() {
        let u = HertzUpgrader::default();
        for (origin, ok) in [
            ("http://example.com", true),
            ("https://EXAMPLE.COM", true),
            ("", true),
            ("http://example.com:8080", false),
            ("http://evil.example", false),
            ("null", false),
        ] {
            let c = context(valid().header("origin", origin));
            assert_eq!(same_origin(&c), ok, "{origin:?}");
        }
        let (_, err) = reject(&u, context(valid().header("origin", "http://evil.example"))).await;
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn hooks_receive_the_context() {
        let errors = Arc::new(AtomicUsize::new(0));
        let seen = errors.clone();
        let u = HertzUpgrader {
            check_origin: Some(Arc::new(|c: &RequestContext| {
                c.request_headers()
                    .get("origin")
                    .is_some_and(|o| o == "https://app.example")
            })),
            // The Hertz docs' sample hook.
            error: Some(Arc::new(move |c: &mut RequestContext, status, reason| {
                seen.fetch_add(1, Ordering::SeqCst);
                assert_eq!(c.uri().path(), "/echo");
                c.response_headers_mut()
                    .insert("sec-websocket-version", HeaderValue::from_static("13"));
                c.abort_with_msg(&reason.to_string(), status);
            })),
            ..Default::default()
        };
        let (c, err) = reject(&u, context(valid())).await;
        assert_eq!(errors.load(Ordering::SeqCst), 1);
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        let (code, headers, text) = body(c).await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        assert_eq!(headers["sec-websocket-version"], "13");
        assert_eq!(
            text,
            "websocket: request origin not allowed by HertzUpgrader.CheckOrigin"
        );
    }

    #[tokio::test]
    async fn a_request_that_cannot_be_taken_over_is_a_500() {
        // Built by hand: no pending upgrade from hyper, so the new path's hijack fails after
        // Hertz's checks passed (with a key the new path would refuse).
        let mut c = context(valid_with("sec-websocket-key", "AAAAAAAAAAAAAA=="));
        c.response_headers_mut()
            .insert("x-app", HeaderValue::from_static("kept"));
        let u = HertzUpgrader::default();
        let err = u
            .upgrade(&mut c, |_conn| async {
                panic!("the callback must not run")
            })
            .await
            .unwrap_err();
        assert!(!err.is_handshake());
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let inner = err.websocket_error().expect("the new path's error");
        assert!(inner.is_hijack(), "{inner:?}");
        assert!(std::error::Error::source(&err).is_some());
        assert!(!c.hijacked());
        let (code, headers, text) = body(c).await;
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers["x-app"], "kept");
        assert_eq!(headers["sec-websocket-version"], "13");
        assert_eq!(text, "Internal Server Error");
    }

    #[test]
    fn server_preference_subprotocol() {
        let u = HertzUpgrader {
            subprotocols: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let pick = |u: &HertzUpgrader, offer: Option<&'static str>| {
            let mut request = valid();
            if let Some(offer) = offer {
                request = request.header("sec-websocket-protocol", offer);
            }
            u.select_subprotocol(&context(request))
        };
        assert_eq!(pick(&u, Some("b, a")).unwrap(), "a");
        assert_eq!(pick(&u, Some("c,b")).unwrap(), "b");
        assert_eq!(pick(&u, Some("c")), None);
        assert_eq!(pick(&u, Some("A")), None);
        assert_eq!(pick(&u, None), None);
        // Without a server list: the application's response header.
        let u = HertzUpgrader::default();
        let mut c = context(valid().header("sec-websocket-protocol", "x, y"));
        assert_eq!(u.select_subprotocol(&c), None);
        c.response_headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("y"));
        assert_eq!(u.select_subprotocol(&c).unwrap(), "y");
    }

    #[test]
    fn defaults_and_debug() {
        let u = HertzUpgrader::default();
        assert_eq!(u.handshake_timeout, Duration::ZERO);
        assert_eq!(u.new_path_upgrader().handshake_timeout, None);
        let u = HertzUpgrader {
            handshake_timeout: Duration::from_secs(3),
            check_origin: Some(Arc::new(|_: &RequestContext| true)),
            ..Default::default()
        };
        assert_eq!(
            u.new_path_upgrader().handshake_timeout,
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            format!("{:?}", u.clone()),
            "HertzUpgrader { handshake_timeout: 3s, read_buffer_size: 0, write_buffer_size: 0, \
             write_buffer_pool: None, subprotocols: [], error: None, check_origin: Some(..), \
             enable_compression: false }"
        );
    }
}
