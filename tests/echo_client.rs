//! `examples/echo_client.rs` as a user runs it: the compiled example against an echo server on
//! loopback, stopped with SIGINT (Ctrl-C), which must close the connection cleanly (close
//! 1000 from the client, the server's close back) and exit 0.

#![cfg(unix)]

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::Stdio,
    sync::{LazyLock, Mutex},
    time::Duration,
};

use axum::{Router, routing::any};
use compat::{Body, ResponseWriter};
use http::Request;
use tokio::io::{AsyncBufReadExt, BufReader};
use websocket::Upgrader;

const LIMIT: Duration = Duration::from_secs(20);

static UPGRADER: LazyLock<Upgrader> = LazyLock::new(Upgrader::default);

/// How each server connection ended (the error its read returned).
static ENDINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Ok(conn) = UPGRADER.upgrade(w, &r, None).await else {
        return;
    };
    loop {
        match conn.read_message().await {
            Ok((message_type, data)) => {
                if conn.write_message(message_type, &data).await.is_err() {
                    break;
                }
            }
            Err(err) => {
                ENDINGS.lock().unwrap().push(err.to_string());
                break;
            }
        }
    }
}

async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/echo", any(compat::handler(echo)));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Builds the example with the same profile as this test and returns its path.
///
/// `cargo test --workspace` (the project's test command) has already built it, since cargo
/// test compiles examples to check they build; `--workspace` here resolves features the same
/// way, so this build is a no-op then. Run alone (`cargo test --test echo_client`), it builds
/// the example first.
fn echo_client_binary() -> PathBuf {
    // target/<profile>/deps/echo_client-HASH -> target/<profile>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .args(["build", "--workspace", "--example", "echo_client"])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build --example echo_client failed");
    let binary = profile_dir.join("examples/echo_client");
    assert!(binary.exists(), "{binary:?} missing after the build");
    binary
}

#[tokio::test]
async fn echo_client_echoes_and_closes_cleanly_on_sigint() {
    let binary = tokio::task::spawn_blocking(echo_client_binary)
        .await
        .unwrap();
    let addr = serve().await;
    let mut child = tokio::process::Command::new(binary)
        .args(["--addr", &addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = Vec::new();

    // Two echoed timestamps, a second apart.
    let mut replies = 0;
    while replies < 2 {
        let line = tokio::time::timeout(LIMIT, lines.next_line())
            .await
            .expect("output in time")
            .unwrap()
            .unwrap_or_else(|| panic!("echo_client exited early: {output:#?}"));
        if line.starts_with("recv: ") {
            replies += 1;
        }
        output.push(line);
    }

    // Ctrl-C.
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("echo_client exits after SIGINT")
        .unwrap();
    while let Some(line) = lines.next_line().await.unwrap() {
        output.push(line);
    }
    assert!(status.success(), "exit {status:?}: {output:#?}");

    assert_eq!(output[0], format!("connecting to ws://{addr}/echo"));
    let recv: Vec<&String> = output.iter().filter(|l| l.starts_with("recv: ")).collect();
    for line in &recv {
        // recv: 2026-11-21 10:36:07.123 UTC
        let time = line.strip_prefix("recv: ").unwrap();
        assert_eq!(time.len(), 27, "{time}");
        assert!(
            time.ends_with(" UTC") && time.as_bytes()[4] == b'-',
            "{time}"
        );
    }
    assert_ne!(recv[0], recv[1]);
    let tail: Vec<&str> = output
        .iter()
        .skip_while(|l| *l != "interrupt")
        // A reply to a tick just before the signal may still arrive.
        .filter(|l| !l.starts_with("recv: "))
        .map(String::as_str)
        .collect();
    // The server's close came back before the one-second timeout.
    assert_eq!(
        tail,
        ["interrupt", "read: websocket: close 1000 (normal)"],
        "{output:#?}"
    );
    assert!(
        ENDINGS
            .lock()
            .unwrap()
            .iter()
            .any(|e| e == "websocket: close 1000 (normal)"),
        "{:?}",
        ENDINGS.lock().unwrap()
    );
}
