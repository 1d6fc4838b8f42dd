//! The server gorilla ships for the Autobahn TestSuite: `/m` echoes with
//! `read_message`/`write_message`, `/f` streams each message from `next_reader` into
//! `next_writer` without holding it whole, and `/p` echoes each message as a
//! `PreparedMessage`. Compression (permessage-deflate) is offered on all three.
//!
//! ```text
//! cargo run --release --example autobahn -- --addr 127.0.0.1:9001
//! ```
//! `scripts/autobahn.sh` runs the suite against it.

use std::sync::LazyLock;

use axum::{Router, routing::any};
use bytes::{Bytes, BytesMut};
use compat::{Body, ResponseWriter};
use http::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use websocket::{Conn, MessageReader, MessageWriter, PreparedMessage, Upgrader};

static UPGRADER: LazyLock<Upgrader> = LazyLock::new(|| {
    Upgrader::new()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .enable_compression(true)
        // Compress every message, as gorilla does: cases 12 and 13 measure compression, and
        // kosoku 0.1.0 errors out ("Strings must be encoded before hashing") on an
        // uncompressed echo in a compressed session, which the default threshold would send
        // for their 16-byte messages even though RFC 7692 allows it.
        .compression_threshold(0)
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

/// Echoes whole messages through a `PreparedMessage` each (gorilla's `/p`).
async fn echo_prepared(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Some(conn) = upgrade(w, &r).await else {
        return;
    };
    while let Ok((message_type, data)) = conn.read_message().await {
        let Ok(message) = PreparedMessage::new(message_type, data) else {
            break;
        };
        if conn.write_prepared_message(&message).await.is_err() {
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
        if pump(&mut reader, &mut writer).await.is_err() {
            break;
        }
    }
}

/// Copies a message from `reader` to `writer` as it arrives, like `tokio::io::copy` (gorilla
/// uses `io.Copy`), except that reading goes on while a write waits.
///
/// A plain copy stops reading whenever the peer stops reading our echo. A peer that sends a
/// whole 16 MiB message before it reads anything (kosoku's fuzzing client does, in cases
/// 9.1.5-9.2.6) then fills both directions' socket buffers and the two sides wait on each
/// other forever. Buffering what the write has not taken yet breaks that cycle; the buffer is
/// bounded by the read limit, like a `read_message` echo.
async fn pump(reader: &mut MessageReader, writer: &mut MessageWriter) -> std::io::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let read = async move {
        let mut buf = BytesMut::new();
        loop {
            buf.reserve(16 * 1024);
            if reader.read_buf(&mut buf).await? == 0 {
                return Ok::<_, std::io::Error>(());
            }
            // The receiver lives until the write side ends, which only happens on error.
            let _ = tx.send(buf.split().freeze());
        }
    };
    let write = async {
        while let Some(chunk) = rx.recv().await {
            writer.write_all(&chunk).await?;
        }
        writer.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = gorilla_axum::addr_flag("127.0.0.1:9001");
    let app = Router::new()
        .route("/m", any(compat::handler(echo_message)))
        .route("/f", any(compat::handler(echo_stream)))
        .route("/p", any(compat::handler(echo_prepared)));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("autobahn server listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
