//! gorilla's command example on the new path: each WebSocket connection runs its own copy of
//! a command and bridges it. Every line the process writes (stdout and stderr) becomes a
//! text message; every message the client sends is written to the process's stdin, followed
//! by a newline.
//!
//! When the client goes away, the process is stopped with gorilla's grace sequence: stdin is
//! closed (many programs exit on end of input), then after [`close_grace`](Config::close_grace)
//! it gets `SIGINT`, and after another `close_grace` `SIGKILL`. It is always waited for, so no
//! zombie is left behind. When the process ends on its own, the connection is closed with
//! 1000 (normal closure) once its output is sent.
//!
//! Keepalive is gorilla's: pings every [`ping_period`](Config::ping_period), and a client
//! that sends no pong within [`pong_wait`](Config::pong_wait) is disconnected. A failed ping
//! also ends a write to a process that stopped reading its stdin, where gorilla would wait
//! forever.
//!
//! Signals a server ignores are ignored by its commands too (an ignored disposition survives
//! `exec`): a server started as a background job of a script, which ignores `SIGINT`, stops
//! its commands with `SIGKILL` after the second grace period. Resetting the disposition in
//! the child needs `pre_exec`, which is `unsafe`, and this crate forbids unsafe code.
//!
//! The handlers have the net/http shape and are mounted with [`compat::handler`]; see
//! `examples/command.rs` for the server, [`router`] for the routes.

use std::{
    ffi::OsString,
    io,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    routing::{any, get},
};
use bytes::Bytes;
use compat::{Body, BoxFuture, ResponseWriter};
use http::Request;
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, Command},
    sync::Notify,
};
use websocket::{CloseCode, Conn, ConnHandle, MessageType, Upgrader, format_close_message};

/// The command page served at `/`.
const HOME_HTML: &str = include_str!("../examples/assets/command.html");

/// Longest line sent as one message; a longer line is split (gorilla's `bufio.Scanner` would
/// give up at 64 KiB instead, ending the output).
const MAX_LINE: usize = 64 * 1024;

/// What to run, and the connection's timing and size limits. [`Config::new`] has gorilla's
/// values; tests use shorter ones.
#[derive(Debug, Clone)]
pub struct Config {
    /// The program to run for each connection: a path, or a name looked up in `PATH`.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Time allowed to write a message to the peer (gorilla's `writeWait`, 10 s).
    pub write_wait: Duration,
    /// Time allowed to read the next pong message from the peer (60 s).
    pub pong_wait: Duration,
    /// How often to ping the peer; must be less than `pong_wait` (54 s).
    pub ping_period: Duration,
    /// The largest message a peer may send, in bytes (gorilla's `maxMessageSize`, 8192).
    pub max_message_size: u64,
    /// How long each step of the stop sequence waits for the process to exit before the
    /// next, harder one (gorilla: 1 s).
    pub close_grace: Duration,
}

impl Config {
    /// Runs `program` with `args`, with gorilla's limits.
    pub fn new<P, I, A>(program: P, args: I) -> Self
    where
        P: Into<PathBuf>,
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        let pong_wait = Duration::from_secs(60);
        Config {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            write_wait: Duration::from_secs(10),
            pong_wait,
            ping_period: pong_wait * 9 / 10,
            max_message_size: 8192,
            close_grace: Duration::from_secs(1),
        }
    }
}

/// Finds `program` the way a shell would (Go's `exec.LookPath`): a name with a `/` is used as
/// is, any other name is searched in `PATH`. Returns `None` unless an executable file is
/// found, so a server can refuse to start rather than fail on every connection.
pub fn look_path(program: &Path) -> Option<PathBuf> {
    fn is_executable(path: &Path) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    if program.as_os_str().as_encoded_bytes().contains(&b'/') {
        return is_executable(program).then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// The command server's routes: the page at `/` and the WebSocket endpoint at `/ws`, with
/// the handlers mounted through [`compat::handler`].
pub fn router(config: Config) -> Router {
    let serve_ws = ServeWs {
        config: Arc::new(config),
        upgrader: Upgrader::new(),
    };
    Router::new()
        .route("/", get(compat::handler(serve_home)))
        .route("/ws", any(compat::handler(serve_ws)))
}

/// Serves the command page (gorilla's `serveHome`).
async fn serve_home(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    crate::write_html(w, HOME_HTML).await;
}

/// The `/ws` handler (gorilla's `serveWs`).
struct ServeWs {
    config: Arc<Config>,
    upgrader: Upgrader,
}

impl compat::Handler for ServeWs {
    fn serve_http<'a>(&'a self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> BoxFuture<'a> {
        Box::pin(self.serve_ws(w, r))
    }
}

impl ServeWs {
    async fn serve_ws(&self, w: &mut dyn ResponseWriter, r: Request<Body>) {
        let config = &self.config;
        let conn = match self.upgrader.upgrade(w, &r, None).await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::info!("command: upgrade: {err}");
                return;
            }
        };
        let mut child = match Command::new(&config.program)
            .args(&config.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // If this task is dropped before the stop sequence ran (server shutdown), the
            // process must not outlive it.
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(err) => {
                tracing::warn!("command: start {}: {err}", config.program.display());
                let _ = conn
                    .write_message(MessageType::Text, b"Internal server error.")
                    .await;
                let _ = conn.close().await;
                return;
            }
        };
        tracing::info!(
            pid = child.id(),
            "command: started {}",
            config.program.display()
        );
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        // Told when the connection is known to be over without the reader noticing: the
        // reader may be stuck writing to a process that does not read its stdin.
        let gone = Arc::new(Notify::new());
        let output = tokio::spawn(pump_output(
            conn.handle(),
            stdout,
            stderr,
            config.clone(),
            gone.clone(),
        ));
        let ping = tokio::spawn(ping(conn.handle(), config.clone(), gone.clone()));
        pump_stdin(&conn, stdin, config, &gone).await;
        ping.abort();
        stop(&mut child, config.close_grace).await;
        // The output pump has sent what it could; whatever is left has no one to go to (a
        // grandchild may still hold the pipe open).
        output.abort();
        let _ = conn.close().await;
        tracing::info!("command: connection done");
    }
}

/// Writes the client's messages to the process's stdin, each followed by a newline
/// (gorilla's `pumpStdin`). Returns when the connection or stdin fails, or `gone` is
/// notified; dropping `stdin` then closes it.
async fn pump_stdin(conn: &Conn, mut stdin: ChildStdin, config: &Config, gone: &Notify) {
    conn.set_read_limit(config.max_message_size);
    conn.set_read_deadline(Some(Instant::now() + config.pong_wait));
    let handle = conn.handle();
    let pong_wait = config.pong_wait;
    conn.set_pong_handler(Some(move |_data: Bytes| {
        handle.set_read_deadline(Some(Instant::now() + pong_wait));
        async { Ok(()) }
    }));
    loop {
        let message = match conn.read_message().await {
            Ok((_, message)) => message,
            Err(err) => {
                tracing::debug!("command: read: {err}");
                break;
            }
        };
        let written = async {
            stdin.write_all(&message).await?;
            stdin.write_all(b"\n").await?;
            stdin.flush().await
        };
        tokio::select! {
            result = written => if let Err(err) = result {
                // The process closed its stdin or exited.
                tracing::debug!("command: stdin: {err}");
                break;
            },
            // A process that does not read would hold this write, and the connection, forever.
            () = gone.notified() => {
                tracing::debug!("command: connection gone while writing to stdin");
                break;
            }
        }
    }
    tracing::debug!("command: exit stdin pump");
}

/// Sends the process's stdout and stderr to the client line by line (gorilla's
/// `pumpStdout`, which gives the process one pipe for both). When both reach end of file,
/// closes the connection with 1000. Either way, closes the connection and notifies `gone`
/// when done.
async fn pump_output<O, E>(
    conn: ConnHandle,
    stdout: O,
    stderr: E,
    config: Arc<Config>,
    gone: Arc<Notify>,
) where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let (out, err) = tokio::join!(
        pump_lines(&conn, BufReader::new(stdout), config.write_wait),
        pump_lines(&conn, BufReader::new(stderr), config.write_wait),
    );
    if out.is_ok() && err.is_ok() {
        // The process is done talking: end the conversation politely.
        let message = format_close_message(CloseCode::NORMAL_CLOSURE, "");
        let deadline = Instant::now() + config.write_wait;
        let _ = conn
            .write_control(MessageType::Close, &message, Some(deadline))
            .await;
    }
    // Ends the stdin pump's read (or write) too, which starts the stop sequence.
    let _ = conn.close().await;
    gone.notify_one();
    tracing::debug!("command: exit output pump");
}

/// Sends each line of `reader` as a text message until end of file (`Ok`) or a failed read or
/// write (`Err`).
async fn pump_lines<R>(conn: &ConnHandle, mut reader: R, write_wait: Duration) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
{
    let mut line = Vec::new();
    while next_line(&mut reader, &mut line).await? {
        conn.set_write_deadline(Some(Instant::now() + write_wait));
        // A text message must be UTF-8; a program's output need not be.
        let text = String::from_utf8_lossy(&line);
        conn.write_message(MessageType::Text, text.as_bytes())
            .await
            .map_err(io::Error::other)?;
    }
    Ok(())
}

/// Reads the next line into `line`, without its `\n` or `\r\n` (like `bufio.ScanLines`).
/// A line longer than [`MAX_LINE`] comes back in pieces. Returns `false` at end of file.
async fn next_line<R>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<bool>
where
    R: AsyncBufRead + Unpin,
{
    line.clear();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            // End of file: a last line without a newline still counts.
            return Ok(!line.is_empty());
        }
        let room = MAX_LINE - line.len();
        let window = &buf[..buf.len().min(room)];
        if let Some(i) = window.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&window[..i]);
            reader.consume(i + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(true);
        }
        let n = window.len();
        line.extend_from_slice(window);
        reader.consume(n);
        if line.len() >= MAX_LINE {
            return Ok(true);
        }
    }
}

/// Pings the client every `ping_period` until a write fails, then notifies `gone`.
async fn ping(conn: ConnHandle, config: Arc<Config>, gone: Arc<Notify>) {
    let first = tokio::time::Instant::now() + config.ping_period;
    let mut ticker = tokio::time::interval_at(first, config.ping_period);
    loop {
        ticker.tick().await;
        let deadline = Instant::now() + config.write_wait;
        if conn
            .write_control(MessageType::Ping, &[], Some(deadline))
            .await
            .is_err()
        {
            gone.notify_one();
            return;
        }
    }
}

/// Stops the process, stdin already closed: gorilla's grace sequence of waiting, `SIGINT`,
/// waiting, `SIGKILL`, and always reaping it.
async fn stop(child: &mut Child, grace: Duration) {
    // Some commands exit when stdin is closed.
    if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
        tracing::debug!("command: exited: {status:?}");
        return;
    }
    // Others need a bonk on the head. The pid cannot have been reused: the process is not
    // reaped until `wait` returns.
    if let Some(pid) = child.id() {
        tracing::debug!(pid, "command: sending SIGINT");
        // `kill(1)` rather than libc: the crate forbids unsafe code.
        let sent = Command::new("kill")
            .args(["-s", "INT", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if let Err(err) = sent {
            tracing::warn!("command: kill -s INT {pid}: {err}");
        }
        if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
            tracing::debug!("command: exited after SIGINT: {status:?}");
            return;
        }
    }
    // A bigger bonk on the head.
    tracing::debug!(pid = child.id(), "command: sending SIGKILL");
    if let Err(err) = child.start_kill() {
        tracing::warn!("command: kill: {err}");
    }
    match child.wait().await {
        Ok(status) => tracing::debug!("command: exited after SIGKILL: {status}"),
        Err(err) => tracing::warn!("command: wait: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8]) -> Vec<String> {
        let mut reader = BufReader::with_capacity(7, input);
        let mut line = Vec::new();
        let mut out = Vec::new();
        while next_line(&mut reader, &mut line).await.unwrap() {
            out.push(String::from_utf8(line.clone()).unwrap());
        }
        out
    }

    #[tokio::test]
    async fn lines_like_bufio_scan_lines() {
        assert_eq!(lines(b"").await, Vec::<String>::new());
        assert_eq!(lines(b"a\r\nbb\n\nlast").await, ["a", "bb", "", "last"]);
        let long = vec![b'x'; MAX_LINE + 3];
        let got = lines(&long).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], "xxx");
    }

    #[test]
    fn look_path_finds_programs() {
        assert!(look_path(Path::new("sh")).is_some());
        assert!(look_path(Path::new("/bin/sh")).is_some());
        assert!(look_path(Path::new("no-such-program-here")).is_none());
        assert!(look_path(Path::new("/etc/passwd")).is_none());
    }
}
