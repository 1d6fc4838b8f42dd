//! Mounting a Go-style handler on axum: Hertz's `adaptor.HertzHandler(http.HandlerFunc(h))`
//! becomes [`handler(h)`](handler).
//!
//! The returned [`HandlerService`] is an axum handler (use it with `get`, `post`, `any`, ...)
//! and a tower [`Service`](tower::Service) (use it with `route_service`, or serve it directly).
//! Each request runs the Go-style handler in a task of its own; the axum side returns as soon
//! as the response head is known, which is what makes streaming and hijacking possible.

use std::{
    any::TypeId,
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequestParts, RawPathParams},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body::Body as _;
use hyper::upgrade::OnUpgrade;
use tokio::sync::oneshot;
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

/// The response future of a [`HandlerService`].
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

impl<H: Handler> HandlerService<H> {
    /// Serves one request: runs the handler in its own task and resolves with the response
    /// head as soon as the handler commits it.
    pub fn serve(&self, mut req: Request<Body>) -> ResponseFuture {
        let handler = self.handler.clone();
        Box::pin(async move {
            let context = request::Context::new();
            let info = prepare(&mut req, context.clone()).await;
            // Until the head arrives, this future being dropped means the client is gone.
            let mut disconnect = context.cancel_on_drop();
            let (head_tx, head_rx) = oneshot::channel();
            let mut writer = ServerWriter::new(info, head_tx);
            let task = async move {
                // Ends the request's context however this task ends: the handler returning,
                // panicking, or the runtime dropping the task.
                let _cancel = context.cancel_on_drop();
                handler.serve_http(&mut writer, req).await;
                writer.finish().await;
            };
            // The handler's logs belong to the request's span (a `TraceLayer`'s, say), as they
            // would if it ran inside this future.
            tokio::spawn(task.instrument(tracing::Span::current()));
            let response = head_rx.await;
            disconnect.disarm();
            match response {
                Ok(response) => response,
                Err(_) => {
                    // The handler task ended without a head: it panicked (the panic hook has
                    // already reported it).
                    tracing::error!("http: handler panicked before writing a response");
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
            }
        })
    }
}

/// Moves what Go handlers reach for into the request's extensions and takes out what the
/// writer needs.
async fn prepare(req: &mut Request<Body>, context: request::Context) -> RequestInfo {
    let on_upgrade = req.extensions_mut().remove::<OnUpgrade>();
    let remote_addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    if let Some(addr) = remote_addr {
        req.extensions_mut().insert(RemoteAddr(addr));
    }
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
    parts.extensions.insert(context.clone());
    *req = Request::from_parts(parts, body);
    RequestInfo {
        method: req.method().clone(),
        body_pending: req.version() < Version::HTTP_2 && !req.body().is_end_stream(),
        on_upgrade,
        remote_addr,
        context,
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
        self.0.as_mut().poll(cx).map(Ok)
    }
}
