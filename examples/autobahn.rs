//! The server gorilla ships for the Autobahn TestSuite: `/m` echoes with
//! `read_message`/`write_message`, `/f` streams each message from `next_reader` into
//! `next_writer` without holding it whole.
//!
//! ```text
//! cargo run --release --example autobahn -- --addr 127.0.0.1:9001
//! ```
//! `scripts/autobahn.sh` runs the suite against it.

use std::sync::LazyLock;

use axum::{Router, routing::any};
use compat::{Body, ResponseWriter};
use http::Request;
use tokio::io::AsyncWriteExt;
use websocket::{Conn, Upgrader};

static UPGRADER: LazyLock<Upgrader> = LazyLock::new(|| {
    Upgrader::new()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .enable_compression(true)
        .check_origin(|_| true)
});

/// Upgrades, logging a failure. Not an `async fn`: the request is read before the future is
/// made, so the handler's future never holds `&Request` (which is not `Send`).
fn upgrade<'a>(
    w: &'a mut dyn ResponseWriter,
    r: &Request<Body>,
) -> impl Future<Output = Option<Conn>> + Send + use<'a> {
    let upgrading = UPGRADER.upgrade(w, r, None);
    async move {
        upgrading
            .await
            .inspect_err(|err| eprintln!("upgrade: {err}"))
            .ok()
    }
}

/// Echoes whole messages.
async fn echo_message(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Some(conn) = upgrade(w, &r).await else {
        return;
    };
    while let Ok((message_type, data)) = conn.read_message().await {
        if conn.write_message(message_type, &data).await.is_err() {
            break;
        }
    }
}

/// Echoes messages as streams, frame by frame.
async fn echo_stream(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Some(conn) = upgrade(w, &r).await else {
        return;
    };
    loop {
        let Ok((message_type, mut reader)) = conn.next_reader().await else {
            break;
        };
        let Ok(mut writer) = conn.next_writer(message_type).await else {
            break;
        };
        if tokio::io::copy(&mut reader, &mut writer).await.is_err() {
            break;
        }
        if writer.shutdown().await.is_err() {
            break;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = gorilla_axum::addr_flag("127.0.0.1:9001");
    let app = Router::new()
        .route("/m", any(compat::handler(echo_message)))
        .route("/f", any(compat::handler(echo_stream)));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("autobahn server listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
