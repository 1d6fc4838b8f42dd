//! The Rust servers under test. Each prints `listening on ADDR` once it accepts connections.
//!
//! ```text
//! bench-server ours  [--addr 127.0.0.1:0]   this project: compat::handler on axum::serve
//! bench-server axum  [--addr ...]           axum's own WebSocketUpgrade (tokio-tungstenite)
//! bench-server axum-nodelay [--addr ...]    the same with TCP_NODELAY on every connection
//! bench-server tcp   [--addr ...]           raw TCP echo of bytes: the loopback ceiling
//! ```
//!
//! `ours` and `axum` serve a WebSocket echo at `/echo` and `Hello, World!` at `/plain`.
//! Neither logs per message: the echo example's `tracing::info!` per message would dominate.

use std::{net::SocketAddr, sync::LazyLock};

use axum::{
    Router,
    extract::ws::{Message, WebSocket, WebSocketUpgrade},
    response::Response,
    routing::{any, get},
    serve::ListenerExt,
};
use compat::{Body, ResponseWriter};
use http::{Request, header};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use websocket::Upgrader;

// --- this project: the echo example's handler shape, minus the logging ---

static UPGRADER: LazyLock<Upgrader> = LazyLock::new(Upgrader::default);

async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Ok(c) = UPGRADER.upgrade(w, &r, None).await else {
        return;
    };
    while let Ok((mt, message)) = c.read_message().await {
        if c.write_message(mt, &message).await.is_err() {
            break;
        }
    }
}

async fn plain(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    w.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let _ = w.write_all(b"Hello, World!").await;
}

fn ours() -> Router {
    Router::new()
        .route("/echo", any(compat::handler(echo)))
        .route("/plain", get(compat::handler(plain)))
}

// --- axum-native ---

async fn axum_echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(axum_echo_loop)
}

async fn axum_echo_loop(mut socket: WebSocket) {
    // tungstenite answers pings and the close frame itself; the reply to a close goes out on
    // the next `recv`, which then ends the stream.
    while let Some(Ok(msg)) = socket.recv().await {
        if matches!(msg, Message::Text(_) | Message::Binary(_)) && socket.send(msg).await.is_err() {
            break;
        }
    }
}

async fn axum_plain() -> ([(header::HeaderName, &'static str); 1], &'static str) {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Hello, World!",
    )
}

fn axum_native() -> Router {
    Router::new()
        .route("/echo", get(axum_echo))
        .route("/plain", get(axum_plain))
}

// --- raw TCP echo ---

/// Bytes read per `read` call by the raw echo.
const RAW_BUFFER: usize = 256 * 1024;

async fn raw_tcp(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = vec![0u8; RAW_BUFFER];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let mut addr = "127.0.0.1:0".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => panic!("unknown argument {other:?}"),
        }
    }
    // One worker per CPU the process may run on: pinned to one core with `taskset`, one worker
    // (std's available_parallelism honours the affinity mask), like GOMAXPROCS for Go.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // Exit cleanly on SIGINT/SIGTERM, so profilers (callgrind) write their output.
        tokio::spawn(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            std::process::exit(0);
        });
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let app = match kind.as_str() {
            "ours" => ours(),
            "axum" => axum_native(),
            "axum-nodelay" => {
                // axum::serve leaves Nagle's algorithm on; this project's Conn turns it off.
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                return axum::serve(
                    listener,
                    axum_native().into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await;
            }
            "tcp" => return raw_tcp(listener).await,
            other => {
                eprintln!(
                    "unknown server kind {other:?}: expected ours, axum, axum-nodelay or tcp"
                );
                std::process::exit(2);
            }
        };
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    })
}
