//! gorilla's command example on the new path: each browser connection runs its own copy of a
//! command, sees its output line by line and feeds its standard input. The handlers are
//! net/http-style functions mounted with `compat::handler`; the pumps and the stop sequence
//! live in `gorilla_axum::command`.
//!
//! ```text
//! cargo run --example command -- --addr 127.0.0.1:8082 -- cat -n
//! cargo run --example command -- --addr 127.0.0.1:8082 -- sh -c 'while read l; do echo "$l" | rev; done'
//! ```
//! then open http://127.0.0.1:8082 in a browser. Without a command, it runs `cat`.
//!
//! Flags come first; the command starts at the first argument that is not a flag, or after
//! `--`. Anyone who can open the page can run that command: bind to loopback.

use std::{ffi::OsString, net::SocketAddr, path::Path};

use gorilla_axum::{
    cli::{Flags, exit_usage},
    command,
};

const USAGE: &str = "command [--addr HOST:PORT] [--] [COMMAND [ARG...]]  (default command: cat)";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = Flags::new("127.0.0.1:8080").parse_or_exit(USAGE);
    let mut args = flags.args.into_iter().map(OsString::from);
    let name = args.next().unwrap_or_else(|| "cat".into());
    // Like gorilla's `exec.LookPath` at startup: a typo fails now, not on every connection.
    let Some(program) = command::look_path(Path::new(&name)) else {
        exit_usage(
            &format!(
                "command: {}: executable file not found",
                name.to_string_lossy()
            ),
            USAGE,
        );
    };
    let config = command::Config::new(program, args);
    println!("running {} for each connection", config.program.display());
    let app = command::router(config);
    let listener = tokio::net::TcpListener::bind(flags.addr).await?;
    println!(
        "command server listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
