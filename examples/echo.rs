//! The echo server of gorilla's and Hertz's echo examples, on the new path: the handlers are
//! net/http-style functions mounted with `compat::handler`, as Hertz's migration guide mounts
//! them with `adaptor.HertzHandler`.
//!
//! ```text
//! cargo run --example echo -- --addr 127.0.0.1:8080
//! ```
//! then open http://127.0.0.1:8080 in a browser.

use std::{net::SocketAddr, sync::LazyLock};

use axum::{
    Router,
    routing::{any, get},
};
use compat::{Body, RequestExt, ResponseWriter};
use http::{Request, header};
use tokio::io::AsyncWriteExt;
use websocket::Upgrader;

static UPGRADER: LazyLock<Upgrader> = LazyLock::new(Upgrader::default); // use default options

async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
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

async fn home(w: &mut dyn ResponseWriter, r: Request<Body>) {
    w.headers_mut().insert(
        header::CONTENT_TYPE,
        "text/html; charset=utf-8".parse().unwrap(),
    );
    let page = gorilla_axum::echo_home_page(&format!("ws://{}/echo", r.host().unwrap_or("")));
    let _ = w.write_all(page.as_bytes()).await;
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = gorilla_axum::addr_flag("127.0.0.1:8080");
    let app = Router::new()
        .route("/", get(compat::handler(home)))
        // `any`, like Go's mux: the upgrader answers other methods with 405 itself, and
        // HTTP/2 WebSockets arrive as CONNECT.
        .route("/echo", any(compat::handler(echo)));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("echo server listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
