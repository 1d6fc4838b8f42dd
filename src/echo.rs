//! The echo server of gorilla's and Hertz's echo examples on the new path: net/http-style
//! handlers mounted with [`compat::handler`], as Hertz's migration guide mounts them with
//! `adaptor.HertzHandler`. `examples/echo.rs` serves [`router`]; [`crate::echo_legacy`] is the
//! same server on the deprecated API.

use std::sync::LazyLock;

use axum::{
    Router,
    routing::{any, get},
};
use compat::{Body, RequestExt, ResponseWriter};
use http::{Request, header};
use tokio::io::AsyncWriteExt;
use websocket::Upgrader;

static UPGRADER: LazyLock<Upgrader> = LazyLock::new(Upgrader::default); // use default options

/// Upgrades the request and echoes every message back with its type.
pub async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let c = match UPGRADER.upgrade(w, &r, None).await {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!("upgrade: {err}");
            return;
        }
    };
    loop {
        let (mt, message) = match c.read_message().await {
            Ok(m) => m,
            Err(err) => {
                tracing::info!("read: {err}");
                break;
            }
        };
        tracing::info!("recv: {}", String::from_utf8_lossy(&message));
        if let Err(err) = c.write_message(mt, &message).await {
            tracing::info!("write: {err}");
            break;
        }
    }
}

/// Serves the browser client, pointed at this server's `/echo`.
pub async fn home(w: &mut dyn ResponseWriter, r: Request<Body>) {
    w.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/html; charset=utf-8".parse().unwrap(),
    );
    let page = crate::echo_home_page(&format!("ws://{}/echo", r.host().unwrap_or("")));
    let _ = w.write_all(page.as_bytes()).await;
}

/// The routes: `/` (the page) and `/echo` (the WebSocket).
pub fn router() -> Router {
    Router::new()
        .route("/", get(compat::handler(home)))
        // `any`, like Go's mux: the upgrader answers other methods with 405 itself, and
        // HTTP/2 WebSockets arrive as CONNECT.
        .route("/echo", any(compat::handler(echo)))
}
