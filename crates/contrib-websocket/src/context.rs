//! [`RequestContext`]: the counterpart of Hertz's `*app.RequestContext`.

use std::{convert::Infallible, net::SocketAddr};

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequestParts},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use http::{
    HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header, request::Parts, response,
};

/// **Deprecated:** new handlers take a [`compat::ResponseWriter`] and an [`http::Request`].
///
/// Hertz's `*app.RequestContext`: the request being served and the response being built, in
/// one value. Hertz handlers read the request from it and write the response into it; the
/// [`HertzUpgrader`](crate::HertzUpgrader) hooks receive it too.
///
/// In axum it is an extractor (it implements [`FromRequestParts`], so it may sit anywhere in a
/// handler's arguments), and the handler returns it as the response, which makes a legacy
/// handler read as it did in Go:
///
/// ```
/// use axum::{Router, response::Response, routing::get};
/// use contrib_websocket::RequestContext;
///
/// async fn home(mut c: RequestContext) -> Response {
///     c.set_content_type("text/plain; charset=utf-8");
///     let greeting = format!("hello, {}\n", c.host().unwrap_or("stranger"));
///     c.write(greeting);
///     c.into_response()
/// }
///
/// let app: Router = Router::new().route("/", get(home));
/// ```
///
/// What it holds:
///
/// * the request head ([`http::request::Parts`]): method, URI, headers and extensions. The
///   extensions carry what the upgrade needs from the server: hyper's pending upgrade and,
///   under `into_make_service_with_connect_info::<SocketAddr>()`, the peer address. The body is
///   not read (Hertz's WebSocket handlers never do).
/// * the response: a status (200 until set), headers and a body. Headers set before
///   [`upgrade`](crate::HertzUpgrader::upgrade) go out with the `101` (Hertz's use of
///   `c.Response.Header` for cookies); after a successful upgrade the response *is* the `101`.
#[deprecated(
    note = "hertz-contrib/websocket is deprecated: use websocket::Upgrader through compat::handler; see MIGRATION.md"
)]
#[derive(Debug)]
pub struct RequestContext {
    request: Parts,
    status: StatusCode,
    headers: HeaderMap,
    body: BytesMut,
    /// The `101` head once an upgrade went through. Only the head is kept: a `101` never has a
    /// body (RFC 9110 15.2), and dropping axum's body type keeps the context `Sync`.
    upgraded: Option<response::Parts>,
}

impl RequestContext {
    /// A context for a request head (its extensions included).
    fn from_head(request: Parts) -> Self {
        RequestContext {
            request,
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: BytesMut::new(),
            upgraded: None,
        }
    }

    /// The request head (Hertz's `c.Request`, without the body).
    pub fn request(&self) -> &Parts {
        &self.request
    }

    /// The request method (`c.Method()`).
    pub fn method(&self) -> &Method {
        &self.request.method
    }

    /// Whether the method is `GET` (`c.IsGet()`).
    pub fn is_get(&self) -> bool {
        self.request.method == Method::GET
    }

    /// The request URI (`c.URI()`).
    pub fn uri(&self) -> &Uri {
        &self.request.uri
    }

    /// The request headers (`c.Request.Header`).
    pub fn request_headers(&self) -> &HeaderMap {
        &self.request.headers
    }

    /// The request's host (`c.Host()`): the `Host` header, or the URI's authority when there is
    /// none (HTTP/2). `None` when neither is there or the header is not text.
    pub fn host(&self) -> Option<&str> {
        match self.request.headers.get(header::HOST) {
            Some(host) => host.to_str().ok(),
            None => self.request.uri.authority().map(|a| a.as_str()),
        }
    }

    /// The peer's address (`c.RemoteAddr()`), when the app is served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.request
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr)
    }

    /// The response status so far (`c.Response.StatusCode()`); 200 until set.
    pub fn status_code(&self) -> StatusCode {
        match &self.upgraded {
            Some(head) => head.status,
            None => self.status,
        }
    }

    /// Sets the response status (`c.SetStatusCode(code)`).
    pub fn set_status_code(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// The response headers (`c.Response.Header`).
    pub fn response_headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The response headers, to change (`c.Response.Header.Set(...)`). Set them before
    /// [`upgrade`](crate::HertzUpgrader::upgrade) to send them with the `101`.
    pub fn response_headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Sets the `Content-Type` response header (`c.SetContentType(...)`). A value that is not a
    /// valid header value (control characters) is ignored.
    pub fn set_content_type(&mut self, content_type: &str) {
        if let Ok(value) = HeaderValue::from_str(content_type) {
            self.headers.insert(header::CONTENT_TYPE, value);
        }
    }

    /// Appends to the response body (`c.Write(p)`).
    pub fn write(&mut self, data: impl AsRef<[u8]>) {
        self.body.extend_from_slice(data.as_ref());
    }

    /// The response body written so far (`c.Response.Body()`).
    pub fn response_body(&self) -> &[u8] {
        &self.body
    }

    /// Replaces the response with `status` and the plain-text body `msg`
    /// (`c.AbortWithMsg(msg, status)`). Headers set so far are kept.
    pub fn abort_with_msg(&mut self, msg: &str, status: StatusCode) {
        self.status = status;
        self.body.clear();
        self.body.extend_from_slice(msg.as_bytes());
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }

    /// Whether the connection was upgraded (`c.Hijacked()`): the response is the `101`.
    pub fn hijacked(&self) -> bool {
        self.upgraded.is_some()
    }

    /// Records the `101` head the upgrade produced; it replaces the response.
    pub(crate) fn set_upgraded(&mut self, head: response::Parts) {
        self.upgraded = Some(head);
    }

    /// The response to hand to axum: the `101` after a successful upgrade, else the status,
    /// headers and body written so far (Hertz's default `Content-Type` for a non-empty body is
    /// `text/plain; charset=utf-8`).
    pub fn into_response(self) -> Response {
        if let Some(head) = self.upgraded {
            return Response::from_parts(head, Body::empty());
        }
        let mut headers = self.headers;
        if !self.body.is_empty() && !headers.contains_key(header::CONTENT_TYPE) {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        let mut response = Response::new(Body::from(Bytes::from(self.body)));
        *response.status_mut() = self.status;
        *response.headers_mut() = headers;
        response
    }
}

impl IntoResponse for RequestContext {
    fn into_response(self) -> Response {
        RequestContext::into_response(self)
    }
}

/// A copy of a request head. [`Parts`] is not `Clone`, but each of its fields is (extensions
/// included, since http 1.0 requires `Clone` of every extension).
fn copy_head(parts: &Parts) -> Parts {
    let (mut copy, ()) = Request::new(()).into_parts();
    copy.method = parts.method.clone();
    copy.uri = parts.uri.clone();
    copy.version = parts.version;
    copy.headers = parts.headers.clone();
    copy.extensions = parts.extensions.clone();
    copy
}

/// Extracts the context from any request; never fails.
///
/// It copies the head instead of taking it, so other extractors in the same handler still see
/// everything. hyper's pending upgrade is shared between the copies (it is reference-counted);
/// whichever awaits it first gets the connection.
impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(RequestContext::from_head(copy_head(parts)))
    }
}

/// A context for a request built by hand (tests, hooks); the body is dropped. Without hyper's
/// pending upgrade in its extensions, an upgrade fails after the checks with a `500`.
impl<B> From<Request<B>> for RequestContext {
    fn from(request: Request<B>) -> Self {
        RequestContext::from_head(request.into_parts().0)
    }
}

impl RequestContext {
    /// A copy of the request, bodiless, for the new path to run on.
    pub(crate) fn to_request(&self) -> Request<Body> {
        Request::from_parts(copy_head(&self.request), Body::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn is_send_and_sync() {
        assert_send_sync::<RequestContext>();
    }

    #[tokio::test]
    async fn extracts_a_copy_of_the_head() {
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mut request = Request::get("/echo?x=1")
            .header("host", "example.com:8081")
            .body(())
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
        let (mut parts, ()) = request.into_parts();
        let c = RequestContext::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        assert!(c.is_get());
        assert_eq!(c.method(), Method::GET);
        assert_eq!(c.uri(), "/echo?x=1");
        assert_eq!(c.host(), Some("example.com:8081"));
        assert_eq!(c.remote_addr(), Some(addr));
        assert_eq!(c.request_headers()["host"], "example.com:8081");
        assert_eq!(c.request().uri.query(), Some("x=1"));
        // The original parts are untouched.
        assert!(parts.extensions.get::<ConnectInfo<SocketAddr>>().is_some());
        assert_eq!(parts.headers["host"], "example.com:8081");
    }

    #[test]
    fn host_falls_back_to_the_authority() {
        let c = RequestContext::from(Request::get("http://authority.example/").body(()).unwrap());
        assert_eq!(c.host(), Some("authority.example"));
        assert_eq!(c.remote_addr(), None);
        let c = RequestContext::from(Request::get("/").body(()).unwrap());
        assert_eq!(c.host(), None);
    }

    #[tokio::test]
    async fn builds_the_response() {
        let mut c = RequestContext::from(Request::get("/").body(()).unwrap());
        assert_eq!(c.status_code(), StatusCode::OK);
        c.set_content_type("text/html; charset=utf-8");
        c.set_content_type("bad\nvalue");
        c.write("<p>");
        c.write(b"hi</p>".as_slice());
        c.response_headers_mut()
            .insert("x-app", HeaderValue::from_static("1"));
        assert_eq!(c.response_body(), b"<p>hi</p>");
        assert_eq!(
            c.response_headers()["content-type"],
            "text/html; charset=utf-8"
        );
        c.set_status_code(StatusCode::CREATED);
        assert!(!c.hijacked());
        let response = c.into_response();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["x-app"], "1");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, "<p>hi</p>");
    }

    #[tokio::test]
    async fn abort_with_msg_replaces_the_body() {
        let mut c = RequestContext::from(Request::get("/").body(()).unwrap());
        c.write("partial");
        c.abort_with_msg("Forbidden", StatusCode::FORBIDDEN);
        let response = c.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, "Forbidden");
    }

    #[test]
    fn empty_body_gets_no_content_type() {
        let c = RequestContext::from(Request::get("/").body(()).unwrap());
        let response = c.into_response();
        assert!(!response.headers().contains_key("content-type"));
    }

    #[test]
    fn the_upgraded_head_replaces_the_response() {
        let mut c = RequestContext::from(Request::get("/").body(()).unwrap());
        c.write("ignored");
        let (mut head, ()) = http::Response::new(()).into_parts();
        head.status = StatusCode::SWITCHING_PROTOCOLS;
        head.headers
            .insert("upgrade", HeaderValue::from_static("websocket"));
        c.set_upgraded(head);
        assert!(c.hijacked());
        assert_eq!(c.status_code(), StatusCode::SWITCHING_PROTOCOLS);
        let response = c.into_response();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()["upgrade"], "websocket");
        assert!(!response.headers().contains_key("content-type"));
    }
}
