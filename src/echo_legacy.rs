//! The echo server of Hertz's echo example on the deprecated API (`contrib-websocket`): Hertz
//! handlers taking a request context, the upgrade running a callback with the connection.
//! `examples/echo_legacy.rs` serves [`router`]; [`crate::echo`] is the same server on the new
//! path, and `MIGRATION.md` walks from this one to that one.

// This module *is* the legacy program, kept to show and test it: real legacy code sees
// the deprecation warnings, which is the point of them, but they would fail this
// workspace's `clippy -D warnings`.
#![allow(deprecated)]

use std::sync::LazyLock;

use axum::{Router, response::Response, routing::get};
use contrib_websocket::{HertzUpgrader, RequestContext};

static UPGRADER: LazyLock<HertzUpgrader> = LazyLock::new(HertzUpgrader::default); // use default options

/// Upgrades the request and echoes every message back with its type, in the upgrade callback.
pub async fn echo(mut c: RequestContext) -> Response {
    let result = UPGRADER
        .upgrade(&mut c, |conn| async move {
            loop {
                let (mt, message) = match conn.read_message().await {
                    Ok(m) => m,
                    Err(err) => {
                        tracing::info!("read: {err}");
                        break;
                    }
                };
                tracing::info!("recv: {}", String::from_utf8_lossy(&message));
                if let Err(err) = conn.write_message(mt, &message).await {
                    tracing::info!("write: {err}");
                    break;
                }
            }
        })
        .await;
    if let Err(err) = result {
        tracing::warn!("upgrade: {err}");
    }
    c.into_response()
}

/// Serves the browser client, pointed at this server's `/echo`.
pub async fn home(mut c: RequestContext) -> Response {
    c.set_content_type("text/html; charset=utf-8");
    let page = crate::echo_home_page(&format!("ws://{}/echo", c.host().unwrap_or("")));
    c.write(page);
    c.into_response()
}

/// The routes: `/` (the page) and `/echo` (the WebSocket), as Hertz's `h.GET` registers them.
pub fn router() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/echo", get(echo))
}
