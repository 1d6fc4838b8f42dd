//! gorilla's filewatch example on the new path: a page that shows a file and updates itself
//! when the file changes. The handlers are net/http-style functions mounted with
//! `compat::handler`; the polling lives in `gorilla_axum::filewatch`.
//!
//! ```text
//! cargo run --example filewatch -- --addr 127.0.0.1:8083 notes.txt
//! cargo run --example filewatch -- --addr 127.0.0.1:8083 --poll-ms 500 notes.txt
//! ```
//! then open http://127.0.0.1:8083 and edit the file. `--poll-ms` sets how often the file is
//! checked (default 10000, gorilla's period).

use std::{net::SocketAddr, time::Duration};

use gorilla_axum::{
    cli::{Flags, exit_usage},
    filewatch,
};

const USAGE: &str = "filewatch [--addr HOST:PORT] [--poll-ms MILLISECONDS] FILE";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = Flags::new("127.0.0.1:8080")
        .value("poll-ms")
        .parse_or_exit(USAGE);
    let [path] = flags.args.as_slice() else {
        exit_usage("filewatch: exactly one file name expected", USAGE);
    };
    let default_ms = filewatch::Config::DEFAULT_POLL_PERIOD.as_millis() as u64;
    let poll_ms = match flags.get_parsed("poll-ms", default_ms) {
        Ok(ms) if ms > 0 => ms,
        Ok(_) => exit_usage("filewatch: -poll-ms must be positive", USAGE),
        Err(err) => exit_usage(&err, USAGE),
    };
    let mut config = filewatch::Config::new(path);
    config.poll_period = Duration::from_millis(poll_ms);
    let app = filewatch::router(config);
    let listener = tokio::net::TcpListener::bind(flags.addr).await?;
    println!(
        "filewatch server for {path} listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
