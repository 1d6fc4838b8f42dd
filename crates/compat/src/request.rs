//! What a Go handler reads off `*http.Request` beyond the `http::Request` itself: the
//! cancellation context, the peer address, the Host, and path values. The adaptor stores them
//! in the request's extensions; [`RequestExt`] reads them back.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::response::Response;
use http::Request;
use tokio::sync::Notify;

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
#[derive(Clone, Default)]
pub struct Context {
    shared: Arc<Shared>,
}

/// What one request's handler, its writer and its response future share. The response head
/// rides along with the cancellation state so that a request costs one allocation for both.
#[derive(Default)]
struct Shared {
    cancelled: AtomicBool,
    notify: Notify,
    head: Mutex<Head>,
}

/// The hand-off of the response head from the handler's writer to the response future.
#[derive(Default)]
enum Head {
    /// The response future waits for the head.
    #[default]
    Waiting,
    /// The writer committed the head; the response future has not taken it yet.
    Sent(Response),
    /// The response future took the head or is gone: a head sent now has no one to go to.
    Closed,
}

impl Context {
    /// A context that is not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the request is over (Go: `ctx.Err() != nil`).
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Acquire)
    }

    /// Resolves once the request is over (Go: `<-ctx.Done()`). Cancel-safe.
    pub async fn cancelled(&self) {
        // Registering before checking the flag: a cancel in between still wakes this waiter,
        // since `notify_waiters` reaches every `Notified` created before it.
        let notified = self.shared.notify.notified();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }

    /// Ends the request's context.
    pub fn cancel(&self) {
        if !self.shared.cancelled.swap(true, Ordering::AcqRel) {
            self.shared.notify.notify_waiters();
        }
    }

    /// Cancels the context when the guard is dropped, unless it is disarmed first.
    pub(crate) fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(Some(self.clone()))
    }

    /// Hands the response head to the response future. `false` if that future took a head
    /// already or is gone: the response is dropped.
    #[must_use]
    pub(crate) fn send_head(&self, response: Response) -> bool {
        let mut head = self.lock_head();
        match *head {
            Head::Waiting => {
                *head = Head::Sent(response);
                true
            }
            Head::Sent(_) | Head::Closed => false,
        }
    }

    /// The head the writer sent, if it did. No head is accepted after this.
    pub(crate) fn take_head(&self) -> Option<Response> {
        let mut head = self.lock_head();
        match std::mem::take(&mut *head) {
            Head::Sent(response) => {
                *head = Head::Closed;
                Some(response)
            }
            unsent => {
                *head = unsent;
                None
            }
        }
    }

    /// Refuses any head sent from now on: the response future is gone.
    pub(crate) fn close_head(&self) {
        *self.lock_head() = Head::Closed;
    }

    fn lock_head(&self) -> std::sync::MutexGuard<'_, Head> {
        // Nothing panics while the lock is held, and the slot is valid in every state anyway.
        self.shared
            .head
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Cancels a [`Context`] when dropped, unless [`disarm`](Self::disarm)ed.
#[derive(Debug)]
pub(crate) struct CancelOnDrop(Option<Context>);

impl CancelOnDrop {
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(context) = self.0.take() {
            context.cancel();
        }
    }
}

/// The peer's address (Go's `r.RemoteAddr`).
///
/// [`RequestExt::remote_addr`] reads axum's `ConnectInfo<SocketAddr>`, which a router served
/// with `into_make_service_with_connect_info::<SocketAddr>()` carries on every request. A
/// `RemoteAddr` in the request's extensions overrides it: insert one from a middleware behind
/// a proxy, or in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

impl RemoteAddr {
    /// The peer's address recorded in a request's extensions: a `RemoteAddr` if there is
    /// one, else axum's `ConnectInfo<SocketAddr>`.
    pub fn from_extensions(extensions: &http::Extensions) -> Option<SocketAddr> {
        match extensions.get::<RemoteAddr>() {
            Some(RemoteAddr(addr)) => Some(*addr),
            None => extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
        }
    }
}

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
        RemoteAddr::from_extensions(self.extensions())
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
    fn remote_addr_comes_from_connect_info_unless_overridden() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let proxy_client: SocketAddr = "192.0.2.7:443".parse().unwrap();
        let mut r = Request::new(());
        assert_eq!(r.remote_addr(), None);
        r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        assert_eq!(r.remote_addr(), Some(peer));
        r.extensions_mut().insert(RemoteAddr(proxy_client));
        assert_eq!(r.remote_addr(), Some(proxy_client));
        assert_eq!(
            RemoteAddr::from_extensions(r.extensions()),
            Some(proxy_client)
        );
    }

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

    #[tokio::test]
    async fn cancelled_resolves_for_waiters_before_and_after_cancel() {
        let ctx = Context::new();
        let waiter = tokio::spawn({
            let ctx = ctx.clone();
            async move { ctx.cancelled().await }
        });
        tokio::task::yield_now().await;
        assert!(!ctx.is_cancelled() && !waiter.is_finished());
        ctx.cancel();
        waiter.await.unwrap();
        assert!(ctx.is_cancelled());
        // Already cancelled: resolves at once.
        ctx.cancelled().await;
    }

    #[test]
    fn head_is_handed_over_once() {
        let head = || Response::new(axum::body::Body::empty());
        let ctx = Context::new();
        assert!(ctx.take_head().is_none());
        assert!(ctx.send_head(head()));
        assert!(ctx.take_head().is_some());
        assert!(!ctx.send_head(head()));
        let ctx = Context::new();
        ctx.close_head();
        assert!(!ctx.send_head(head()));
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
