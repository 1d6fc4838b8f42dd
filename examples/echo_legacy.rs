//! The echo server of Hertz's echo example on the deprecated `hertz-contrib/websocket`-style
//! API (`contrib-websocket`; the handlers are in `src/echo_legacy.rs`): Hertz handlers taking a
//! `RequestContext`, `HertzUpgrader::upgrade` running a callback with the connection.
//!
//! ```text
//! cargo run --example echo_legacy -- --addr 127.0.0.1:8081
//! ```
//! then open http://127.0.0.1:8081 in a browser. Run `--example echo` (port 8080) beside it:
//! same page, same echo; `MIGRATION.md` lists where the two differ.

// Real legacy code compiles with deprecation warnings pointing at MIGRATION.md (that is what
// they are for); this example exists to show that code, and the workspace's
// `clippy -D warnings` would turn each warning into an error.
#![allow(deprecated)]

use std::net::SocketAddr;

use contrib_websocket::NoHijackConnPool;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = gorilla_axum::addr_flag("127.0.0.1:8081");
    let app = gorilla_axum::echo_legacy::router()
        // https://github.com/cloudwego/hertz/issues/121 (Hertz: `h.NoHijackConnPool = true`).
        // Accepted and ignored: the Conn owns its socket, so nothing can close it twice.
        .no_hijack_conn_pool(true);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "legacy echo server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
