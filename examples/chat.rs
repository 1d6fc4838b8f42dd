//! gorilla's chat example on the new path: everyone who opens the page shares one room.
//! The handlers are net/http-style functions mounted with `compat::handler`; the hub and the
//! pumps live in `gorilla_axum::chat`.
//!
//! ```text
//! cargo run --example chat -- --addr 127.0.0.1:8080
//! ```
//! then open http://127.0.0.1:8080 in two browser windows.

use std::net::SocketAddr;

use gorilla_axum::{
    chat::{self, Hub},
    cli::Flags,
};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = Flags::new("127.0.0.1:8080").parse_or_exit("chat [--addr HOST:PORT]");
    if !flags.args.is_empty() {
        gorilla_axum::cli::exit_usage("chat takes no arguments", "chat [--addr HOST:PORT]");
    }
    let app = chat::router(Hub::spawn(), chat::Config::default());
    let listener = tokio::net::TcpListener::bind(flags.addr).await?;
    println!("chat server listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
