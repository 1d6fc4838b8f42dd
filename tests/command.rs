//! The command demo over real loopback sockets, with tokio-tungstenite as the browser.
//!
//! Each test's command prints its own pid first (`sh -c 'echo $$; exec ...'`), so the test
//! can check afterwards that the process is gone: `kill -0 PID` fails only once it has exited
//! *and* been reaped (a zombie still answers), which is what the server must guarantee.

use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use gorilla_axum::command;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::frame::coding::CloseCode},
};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const LIMIT: Duration = Duration::from_secs(10);

/// A server running `sh -c SCRIPT` for each connection, waiting `grace` at each step of the
/// stop sequence.
async fn serve(script: &str, grace: Duration) -> SocketAddr {
    let mut config = command::Config::new("sh", ["-c", script]);
    config.close_grace = grace;
    let app = command::router(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn connect(addr: SocketAddr) -> Client {
    let (ws, _) = connect_async(format!("ws://{addr}/ws")).await.unwrap();
    ws
}

/// The next message, skipping pings and pongs.
async fn next(ws: &mut Client) -> Message {
    loop {
        let message = tokio::time::timeout(LIMIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .expect("a valid message");
        if !(message.is_ping() || message.is_pong()) {
            return message;
        }
    }
}

async fn next_text(ws: &mut Client) -> String {
    match next(ws).await {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The process `pid` is still in the process table (running, or a zombie).
fn exists(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run kill")
        .success()
}

async fn wait_until_gone(pid: u32) -> Duration {
    let start = Instant::now();
    while exists(pid) {
        assert!(
            start.elapsed() < LIMIT,
            "process {pid} still exists (running or unreaped)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

/// A scratch file path unique to this test run.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "gorilla-axum-command-{}-{name}",
        std::process::id()
    ))
}

#[tokio::test]
async fn bridges_cat_and_reaps_it_on_close() {
    let addr = serve("echo $$; exec cat", Duration::from_secs(3)).await;
    let mut ws = connect(addr).await;
    let pid: u32 = next_text(&mut ws).await.parse().unwrap();
    assert!(exists(pid));

    ws.send(Message::text("hello, cat")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "hello, cat");
    ws.send(Message::text("two\nlines")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "two");
    assert_eq!(next_text(&mut ws).await, "lines");

    ws.close(None).await.unwrap();
    // `cat` exits as soon as its stdin is closed: no signal needed, so well within the first
    // grace period.
    let took = wait_until_gone(pid).await;
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn stderr_is_sent_too_and_exit_closes_normally() {
    let script = "read line; echo \"out: $line\"; echo \"err: $line\" >&2";
    let addr = serve(script, Duration::from_secs(1)).await;
    let mut ws = connect(addr).await;
    ws.send(Message::text("x")).await.unwrap();
    let mut lines = vec![next_text(&mut ws).await, next_text(&mut ws).await];
    lines.sort();
    assert_eq!(lines, ["err: x", "out: x"]);
    // The process has exited: the server closes with 1000.
    match next(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected a close message, got {other:?}"),
    }
}

#[tokio::test]
async fn sigint_stops_a_process_that_ignores_end_of_input() {
    let marker = scratch("sigint");
    let _ = std::fs::remove_file(&marker);
    // Ignores stdin; on SIGINT, leaves a mark and exits.
    let script = format!(
        "echo $$; trap 'echo interrupted > {}; exit 0' INT; while :; do sleep 0.05; done",
        marker.display()
    );
    // A generous grace period: the shell runs its trap only after the current `sleep`.
    let addr = serve(&script, Duration::from_secs(1)).await;
    let mut ws = connect(addr).await;
    let pid: u32 = next_text(&mut ws).await.parse().unwrap();

    ws.close(None).await.unwrap();
    wait_until_gone(pid).await;
    if sigint_ignored() {
        // Then the shell inherited an ignored SIGINT and cannot trap it: SIGKILL did the job.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "NOTICE: this test process ignores SIGINT (a background job?), so its commands \
             do too: the SIGINT step was not observable"
        );
        return;
    }
    let mark = std::fs::read_to_string(&marker).expect("the process saw SIGINT");
    assert_eq!(mark.trim(), "interrupted");
    let _ = std::fs::remove_file(&marker);
}

/// Whether this process ignores SIGINT, as a background job of a non-interactive shell does.
/// Children inherit an ignored signal across exec, and a non-interactive shell cannot trap a
/// signal that was ignored when it started.
fn sigint_ignored() -> bool {
    const SIGINT: u32 = 2;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
            u64::from_str_radix(mask.trim(), 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (SIGINT - 1)) != 0)
}

#[tokio::test]
async fn sigkill_stops_a_process_that_ignores_sigint() {
    // Signals ignored at exec stay ignored, so `sleep` ignores SIGINT too.
    let addr = serve(
        "echo $$; trap '' INT; exec sleep 60",
        Duration::from_millis(300),
    )
    .await;
    let mut ws = connect(addr).await;
    let pid: u32 = next_text(&mut ws).await.parse().unwrap();

    // Vanish without a close message: the server notices the dead connection all the same.
    drop(ws);
    let took = wait_until_gone(pid).await;
    // Two grace periods (300 ms each) before SIGKILL.
    assert!(took >= Duration::from_millis(500), "took {took:?}");
}

#[tokio::test]
async fn a_process_that_does_not_read_stdin_is_stopped_when_the_client_leaves() {
    let mut config = command::Config::new("sh", ["-c", "echo $$; exec sleep 60"]);
    config.close_grace = Duration::from_millis(300);
    // The failed ping is what notices the client left while stdin is full.
    config.ping_period = Duration::from_millis(100);
    let max = config.max_message_size as usize;
    let app = command::router(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut ws = connect(addr).await;
    let pid: u32 = next_text(&mut ws).await.parse().unwrap();
    // Far more than a pipe holds (64 KiB on Linux): the server blocks writing to `sleep`.
    let line = "z".repeat(max - 1);
    for _ in 0..40 {
        ws.send(Message::text(line.clone())).await.unwrap();
    }
    drop(ws);
    wait_until_gone(pid).await;
}

#[tokio::test]
async fn a_command_that_cannot_start_reports_an_error() {
    let mut config = command::Config::new("/nonexistent/program", Vec::<String>::new());
    config.close_grace = Duration::from_millis(100);
    let app = command::router(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut ws = connect(addr).await;
    assert_eq!(next_text(&mut ws).await, "Internal server error.");
}

#[tokio::test]
async fn the_page_is_served() {
    let addr = serve("exec cat", Duration::from_secs(1)).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/html"));
    assert!(response.contains("new WebSocket("));
}
