//! Mounting a Go-style handler on axum: Hertz's `adaptor.HertzHandler(http.HandlerFunc(h))`
//! becomes [`handler(h)`](handler).
//!
//! The returned [`HandlerService`] is an axum handler (use it with `get`, `post`, `any`, ...)
//! and a tower [`Service`](tower::Service) (use it with `route_service`, or serve it directly).
//! The axum side returns as soon as the response head is known, which is what makes streaming
//! and hijacking possible: a handler still running then goes on in a task of its own.

use std::{
    any::TypeId,
    convert::Infallible,
    future::Future,
    panic::{self, AssertUnwindSafe},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    extract::{FromRequestParts, MatchedPath, OriginalUri, RawPathParams},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri, Version};
use http_body::Body as _;
use hyper::upgrade::OnUpgrade;
use tracing::Instrument;

use crate::{
    ResponseWriter,
    request::{self, PathParams, RemoteAddr},
    server_writer::{RequestInfo, ServerWriter},
};

/// The boxed future a [`Handler`] returns.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Go's `http.Handler`: something that serves a request by writing to a [`ResponseWriter`].
///
/// Plain `async fn`s of the shape
/// `async fn(w: &mut dyn ResponseWriter, r: Request<Body>)` implement it through
/// [`HandlerFunc`]; implement it by hand for a handler that carries state:
///
/// ```
/// use compat::{BoxFuture, Body, Handler, ResponseWriter};
/// use http::Request;
/// use tokio::io::AsyncWriteExt;
///
/// struct Greeter { greeting: String }
///
/// impl Handler for Greeter {
///     fn serve_http<'a>(
///         &'a self,
///         w: &'a mut dyn ResponseWriter,
///         _r: Request<Body>,
///     ) -> BoxFuture<'a> {
///         Box::pin(async move {
///             let _ = w.write_all(self.greeting.as_bytes()).await;
///         })
///     }
/// }
///
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(compat::handler(Greeter { greeting: "hi".into() })));
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Serves one request (Go's `ServeHTTP`).
    fn serve_http<'a>(&'a self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> BoxFuture<'a>;
}

/// Go's `http.HandlerFunc`: implemented by every `async fn(&mut dyn ResponseWriter, Request<Body>)`
/// whose future is `Send`, which makes it a [`Handler`]. You never implement it yourself.
///
/// It exists because a plain `Fn` bound cannot say "the future borrows the writer for as long
/// as the call lasts"; this trait names that lifetime.
pub trait HandlerFunc<'a>: Send + Sync + 'static {
    /// The future the function returns.
    type Future: Future<Output = ()> + Send + 'a;

    /// Calls the function.
    fn call(&self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> Self::Future;
}

impl<'a, F, Fut> HandlerFunc<'a> for F
where
    F: Fn(&'a mut dyn ResponseWriter, Request<Body>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'a,
{
    type Future = Fut;

    fn call(&self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> Fut {
        self(w, r)
    }
}

impl<F> Handler for F
where
    F: for<'a> HandlerFunc<'a>,
{
    fn serve_http<'a>(&'a self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> BoxFuture<'a> {
        Box::pin(HandlerFunc::call(self, w, r))
    }
}

/// Mounts a Go-style handler on axum: the counterpart of
/// `adaptor.HertzHandler(http.HandlerFunc(echo))`.
///
/// ```
/// use axum::{Router, routing::{any, get}};
/// use compat::{Body, ResponseWriter};
/// use http::Request;
/// use tokio::io::AsyncWriteExt;
///
/// async fn home(w: &mut dyn ResponseWriter, _r: Request<Body>) {
///     let _ = w.write_all(b"home\n").await;
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(compat::handler(home)))
///     .route_service("/any", compat::handler(home));
/// ```
///
/// With router state, the state is placed in the request's extensions, where a handler reads
/// it as Go code reads a value from `r.Context()`:
///
/// ```
/// use axum::{Router, routing::get};
/// use compat::{Body, ResponseWriter};
/// use http::Request;
///
/// #[derive(Clone)]
/// struct AppState { name: &'static str }
///
/// async fn who(w: &mut dyn ResponseWriter, r: Request<Body>) {
///     let state = r.extensions().get::<AppState>().expect("router state");
///     let _ = tokio::io::AsyncWriteExt::write_all(w, state.name.as_bytes()).await;
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(compat::handler(who)))
///     .with_state(AppState { name: "demo" });
/// ```
pub fn handler<H: Handler>(handler: H) -> HandlerService<H> {
    HandlerService {
        handler: Arc::new(handler),
    }
}

/// A [`Handler`] mounted on axum; made by [`handler`].
pub struct HandlerService<H> {
    handler: Arc<H>,
}

impl<H> Clone for HandlerService<H> {
    fn clone(&self) -> Self {
        HandlerService {
            handler: self.handler.clone(),
        }
    }
}

impl<H> std::fmt::Debug for HandlerService<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerService")
            .field("handler", &std::any::type_name::<H>())
            .finish()
    }
}

impl<H: Handler> HandlerService<H> {
    /// Serves one request: runs the handler and resolves with the response head as soon as
    /// the handler commits it.
    ///
    /// The handler starts inside the returned future, so one that returns without streaming or
    /// hijacking (most of them) costs no task of its own: no spawn, no cross-task wake-up. If
    /// it commits the head while it still runs (a flush, a body past the buffer, a hijack),
    /// the rest of it moves to a task of its own, which goes on after hyper has the head. If
    /// hyper drops the future first (the client left), the handler also goes on in a task
    /// of its own, with its context cancelled, as a Go handler would.
    pub fn serve(&self, req: Request<Body>) -> ResponseFuture {
        let context = request::Context::new();
        let task = Box::pin(run_handler(self.handler.clone(), req, context.clone()));
        ResponseFuture {
            task: Some(task),
            context,
            span: None,
        }
    }
}

async fn run_handler<H: Handler>(
    handler: Arc<H>,
    mut req: Request<Body>,
    context: request::Context,
) {
    if has_path_params(&req) {
        // Boxed: the extractor's state (the request's parts, held across its await) would
        // otherwise make every handler's future larger, past the allocator's fast sizes.
        Box::pin(copy_path_params(&mut req)).await;
    }
    let info = prepare(&mut req, context);
    // Dropping the writer ends the request's context however the handler ends: returning,
    // panicking, or being dropped.
    let mut writer = ServerWriter::new(info);
    handler.serve_http(&mut writer, req).await;
    writer.finish().await;
}

/// The response future of a [`HandlerService`]: runs the handler until the response head is
/// known; see [`HandlerService::serve`].
pub struct ResponseFuture {
    /// The handler, while it runs inside this future.
    task: Option<BoxFuture<'static>>,
    /// The request's context, which also carries the head from the writer.
    context: request::Context,
    /// The request's span (a `TraceLayer`'s, say), kept for the handler's logs once it runs in
    /// a task of its own; taken only when the handler outlives a poll, since most do not.
    span: Option<tracing::Span>,
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("running", &self.task.is_some())
            .field("context", &self.context)
            .finish()
    }
}

impl ResponseFuture {
    /// Moves the handler to a task of its own. Called inside `poll`, where the current span is
    /// the request's, or on drop, with the span of the poll that left the handler running.
    fn spawn(&mut self, task: BoxFuture<'static>) {
        let span = self.span.take().unwrap_or_else(tracing::Span::current);
        tokio::spawn(task.instrument(span));
    }
}

impl Future for ResponseFuture {
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = &mut *self;
        let task = this
            .task
            .as_mut()
            .expect("ResponseFuture polled after completion");
        // A panic ends the handler here as it would end a task of its own: unwinding drops
        // the writer (no head yet: the 500 below; a started body: the connection is aborted)
        // and cancels the context. The panic hook has reported it.
        match panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(cx))) {
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(())) | Err(_) => this.task = None,
        }
        // The writer sends the head only while the handler runs in here, so a poll that did
        // not produce it has nothing to wait for but the handler's own wake-up.
        match this.context.take_head() {
            Some(response) => {
                if let Some(task) = this.task.take() {
                    this.spawn(task);
                }
                Poll::Ready(response)
            }
            None if this.task.is_none() => {
                // The handler ended without a head: it panicked.
                tracing::error!("http: handler panicked before writing a response");
                Poll::Ready(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
            None => {
                // Dropped before the next poll, this future hands the handler to a task of
                // its own, which must still log in the request's span.
                if this.span.is_none() {
                    this.span = Some(tracing::Span::current());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for ResponseFuture {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Dropped before the head: the client is gone.
            self.context.close_head();
            self.context.cancel();
            // Without a span, this future was never polled and the handler never started: it
            // need not run at all.
            if self.span.is_some() && tokio::runtime::Handle::try_current().is_ok() {
                self.spawn(task);
            }
        }
    }
}

/// Moves what Go handlers reach for into the request's extensions and takes out what the
/// writer needs.
fn prepare(req: &mut Request<Body>, context: request::Context) -> RequestInfo {
    let on_upgrade = req.extensions_mut().remove::<OnUpgrade>();
    // Only a hijacked connection needs the address from here (handlers read it where it lies,
    // see `RemoteAddr`), and only an upgrade request can be hijacked.
    let remote_addr = match on_upgrade {
        Some(_) => {
            detach_head(req);
            RemoteAddr::from_extensions(req.extensions())
        }
        None => None,
    };
    req.extensions_mut().insert(context.clone());
    RequestInfo {
        method: req.method().clone(),
        body_pending: req.version() < Version::HTTP_2 && !req.body().is_end_stream(),
        on_upgrade,
        remote_addr,
        context,
    }
}

/// Whether the route has parameters (`{name}`, `{*rest}`) to copy: every other route skips
/// taking the request apart for the extractor.
fn has_path_params(req: &Request<Body>) -> bool {
    req.extensions()
        .get::<MatchedPath>()
        .is_none_or(|path| path.as_str().bytes().any(|b| b == b'{'))
}

/// Copies the path parameters axum matched into [`PathParams`].
async fn copy_path_params(req: &mut Request<Body>) {
    let (mut parts, body) = std::mem::replace(req, Request::new(Body::empty())).into_parts();
    if let Ok(params) = RawPathParams::from_request_parts(&mut parts, &()).await {
        let params = params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>();
        if !params.is_empty() {
            parts.extensions.insert(PathParams(params));
        }
    }
    *req = Request::from_parts(parts, body);
}

/// Gives the head of a request that may be hijacked storage of its own.
///
/// hyper parses the URI and the header values as slices of the connection's read buffer
/// (8 to 16 KiB). A hijacking handler keeps its `Request` for as long as the connection lives
/// (it is the handler's parameter, and the message loop runs in its scope), so those slices
/// would pin that buffer to every WebSocket connection. Copying the head out costs a few
/// hundred bytes once per upgrade, and the buffer goes when hyper lets go of the connection.
fn detach_head(req: &mut Request<Body>) {
    for value in req.headers_mut().values_mut() {
        if let Ok(mut owned) = HeaderValue::from_bytes(value.as_bytes()) {
            owned.set_sensitive(value.is_sensitive());
            *value = owned;
        }
    }
    let owned_uri = |uri: &Uri| Uri::try_from(uri.to_string()).ok();
    if let Some(uri) = owned_uri(req.uri()) {
        *req.uri_mut() = uri;
    }
    if let Some(OriginalUri(uri)) = req.extensions_mut().get_mut::<OriginalUri>() {
        if let Some(owned) = owned_uri(uri) {
            *uri = owned;
        }
    }
}

impl<H, S> axum::handler::Handler<((),), S> for HandlerService<H>
where
    H: Handler,
    S: Clone + Send + Sync + 'static,
{
    type Future = ResponseFuture;

    fn call(self, mut req: Request<Body>, state: S) -> Self::Future {
        if TypeId::of::<S>() != TypeId::of::<()>() {
            req.extensions_mut().insert(state);
        }
        self.serve(req)
    }
}

impl<H, B> tower::Service<Request<B>> for HandlerService<H>
where
    H: Handler,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = InfallibleFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        InfallibleFuture(self.serve(req.map(Body::new)))
    }
}

/// The tower future of a [`HandlerService`]: its [`ResponseFuture`], infallible.
pub struct InfallibleFuture(ResponseFuture);

impl std::fmt::Debug for InfallibleFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InfallibleFuture")
    }
}

impl Future for InfallibleFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_head_copies_the_head_out_of_the_read_buffer() {
        // hyper's parse: the URI and header values are slices of one read buffer.
        let buffer = Bytes::from_static(b"/chat?x=1 dGhlIHNhbXBsZSBub25jZQ==");
        let inside = |p: *const u8| buffer.as_ptr_range().contains(&p);
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = Uri::from_maybe_shared(buffer.slice(0..9)).unwrap();
        let key = HeaderValue::from_maybe_shared(buffer.slice(10..)).unwrap();
        req.headers_mut().insert("sec-websocket-key", key);
        let mut secret = HeaderValue::from_maybe_shared(buffer.slice(1..5)).unwrap();
        secret.set_sensitive(true);
        req.headers_mut().append("authorization", secret);
        let original = OriginalUri(req.uri().clone());
        req.extensions_mut().insert(original);
        assert!(inside(
            req.headers()["sec-websocket-key"].as_bytes().as_ptr()
        ));
        assert!(inside(req.uri().path().as_ptr()));

        detach_head(&mut req);

        let key = &req.headers()["sec-websocket-key"];
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert!(!inside(key.as_bytes().as_ptr()));
        let secret = &req.headers()["authorization"];
        assert_eq!(secret, "chat");
        assert!(secret.is_sensitive() && !inside(secret.as_bytes().as_ptr()));
        assert_eq!(req.uri(), "/chat?x=1");
        assert!(!inside(req.uri().path().as_ptr()));
        let OriginalUri(original) = req.extensions().get::<OriginalUri>().unwrap();
        assert_eq!(original, "/chat?x=1");
        assert!(!inside(original.path().as_ptr()));
    }
}
