//! The echo server of gorilla's and Hertz's echo examples, on the new path: the handlers
//! (in `src/echo.rs`) are net/http-style functions mounted with `compat::handler`, as Hertz's
//! migration guide mounts them with `adaptor.HertzHandler`.
//!
//! ```text
//! cargo run --example echo -- --addr 127.0.0.1:8080
//! ```
//! then open http://127.0.0.1:8080 in a browser. `examples/echo_legacy.rs` is the same server
//! on the deprecated API; `MIGRATION.md` shows both programs whole, side by side.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = gorilla_axum::addr_flag("127.0.0.1:8080");
    let app = gorilla_axum::echo::router();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("echo server listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
