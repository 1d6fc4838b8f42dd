//! What a Go handler reads off `*http.Request` beyond the `http::Request` itself: the
//! cancellation context, the peer address, the Host, and path values. The adaptor stores them
//! in the request's extensions; [`RequestExt`] reads them back.

use std::net::SocketAddr;

use http::Request;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Go's `r.Context()` for one request: cancelled when the client disconnects, when the response
/// is dropped before it was fully sent, or when the handler returns (or panics).
///
/// A handler doing long work should race it against [`cancelled`](Self::cancelled):
///
/// ```
/// use compat::{Body, RequestExt, ResponseWriter};
/// use http::Request;
///
/// async fn slow(_w: &mut dyn ResponseWriter, r: Request<Body>) {
///     let ctx = r.context();
///     tokio::select! {
///         _ = ctx.cancelled() => { /* the client is gone: stop */ }
///         _ = tokio::time::sleep(std::time::Duration::from_millis(1)) => { /* done */ }
///     }
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Context {
    token: CancellationToken,
}

impl Context {
    /// A context that is not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the request is over (Go: `ctx.Err() != nil`).
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the request is over (Go: `<-ctx.Done()`). Cancel-safe.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Ends the request's context.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Cancels the context when the guard is dropped, unless it is disarmed first.
    pub(crate) fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.token.clone()))
    }
}

/// Cancels a [`Context`] when dropped, unless [`disarm`](Self::disarm)ed.
#[derive(Debug)]
pub(crate) struct CancelOnDrop(Option<CancellationToken>);

impl CancelOnDrop {
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

/// The peer's address (Go's `r.RemoteAddr`), stored in the request extensions by the adaptor
/// when the router was served with `into_make_service_with_connect_info::<SocketAddr>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// Path parameters axum matched for the route (Go 1.22's `r.PathValue`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(pub Vec<(String, String)>);

/// Go-style accessors on an `http::Request` served through this crate.
///
/// ```
/// use compat::{Body, RequestExt, ResponseWriter};
/// use http::Request;
/// use tokio::io::AsyncWriteExt;
///
/// async fn whoami(w: &mut dyn ResponseWriter, r: Request<Body>) {
///     let line = format!(
///         "host={} user={} from={:?}\n",
///         r.host().unwrap_or(""),
///         r.path_value("user").unwrap_or("?"),
///         r.remote_addr(),
///     );
///     let _ = w.write_all(line.as_bytes()).await;
/// }
/// ```
pub trait RequestExt {
    /// The request's cancellation context. A request that did not come through the adaptor
    /// gets a fresh context that is never cancelled.
    fn context(&self) -> Context;

    /// The peer's address, if the server recorded it (see [`RemoteAddr`]).
    fn remote_addr(&self) -> Option<SocketAddr>;

    /// Go's `r.Host`: the URI authority (absolute-form targets, HTTP/2), else the `Host` header.
    fn host(&self) -> Option<&str>;

    /// Go's `r.PathValue(name)`: a path parameter axum matched, e.g. `{user}` in `/u/{user}`.
    fn path_value(&self, name: &str) -> Option<&str>;

    /// The raw query string (Go's `r.URL.RawQuery`), if any.
    fn raw_query(&self) -> Option<&str>;
}

impl<B> RequestExt for Request<B> {
    fn context(&self) -> Context {
        self.extensions()
            .get::<Context>()
            .cloned()
            .unwrap_or_default()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.extensions().get::<RemoteAddr>().map(|a| a.0)
    }

    fn host(&self) -> Option<&str> {
        // RFC 9112 3.2.2: an absolute-form target's authority wins over `Host` (Go agrees); on
        // HTTP/2 the authority is the `:authority` pseudo-header.
        match self.uri().authority() {
            Some(authority) => Some(authority.as_str()),
            None => self.headers().get(http::header::HOST)?.to_str().ok(),
        }
    }

    fn path_value(&self, name: &str) -> Option<&str> {
        let params = self.extensions().get::<PathParams>()?;
        params
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn raw_query(&self) -> Option<&str> {
        self.uri().query()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_prefers_authority_then_header() {
        let r = Request::get("http://a.example/x")
            .header("host", "b.example")
            .body(())
            .unwrap();
        assert_eq!(r.host(), Some("a.example"));
        let r = Request::get("/x")
            .header("host", "b.example")
            .body(())
            .unwrap();
        assert_eq!(r.host(), Some("b.example"));
    }

    #[test]
    fn path_values_and_query() {
        let mut r = Request::get("/u/ann?x=1").body(()).unwrap();
        r.extensions_mut()
            .insert(PathParams(vec![("user".into(), "ann".into())]));
        assert_eq!(r.path_value("user"), Some("ann"));
        assert_eq!(r.path_value("nope"), None);
        assert_eq!(r.raw_query(), Some("x=1"));
    }

    #[test]
    fn guard_cancels_unless_disarmed() {
        let ctx = Context::new();
        drop(ctx.cancel_on_drop());
        assert!(ctx.is_cancelled());
        let ctx = Context::new();
        let mut g = ctx.cancel_on_drop();
        g.disarm();
        drop(g);
        assert!(!ctx.is_cancelled());
    }
}
