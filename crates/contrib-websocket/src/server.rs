//! [`NoHijackConnPool`]: Hertz's `h.NoHijackConnPool = true`, accepted and ignored.

/// **Deprecated:** delete the call; there is nothing to configure.
///
/// Hertz pooled the connection objects it hands to hijack handlers, and a hijacked connection
/// closed twice (once by the WebSocket code, once by the server) crashed the process; the docs
/// told WebSocket users to set `h.NoHijackConnPool = true` on the server. Here the setting is
/// accepted so that legacy code keeps its line, and does nothing: the upgraded connection is
/// owned by the [`Conn`](crate::Conn) (and its handles), and the socket is closed exactly once,
/// when the last of them is dropped. Nothing can close it a second time, and no pool exists.
///
/// It is implemented for [`axum::Router`], the closest thing to Hertz's server `h`:
///
/// ```
/// use axum::{Router, routing::get};
/// use contrib_websocket::NoHijackConnPool;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "home" }))
///     // https://github.com/cloudwego/hertz/issues/121
///     .no_hijack_conn_pool(true);
/// ```
#[deprecated(
    note = "hertz-contrib/websocket is deprecated: NoHijackConnPool is a no-op (the Conn owns its socket); delete the call, see MIGRATION.md"
)]
pub trait NoHijackConnPool: Sized {
    /// Hertz's `h.NoHijackConnPool = no_pool`. A no-op: returns `self` unchanged.
    fn no_hijack_conn_pool(self, no_pool: bool) -> Self {
        let _ = no_pool;
        self
    }
}

impl<S> NoHijackConnPool for axum::Router<S> {}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, body::Body, routing::get};
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn routes_are_unchanged() {
        for no_pool in [true, false] {
            let app = Router::new()
                .route("/", get(|| async { "home" }))
                .no_hijack_conn_pool(no_pool);
            let response = app
                .oneshot(Request::get("/").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
}
