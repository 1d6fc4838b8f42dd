//! gorilla's filewatch example on the new path: the page at `/` shows a file's contents, and a
//! WebSocket at `/ws` pushes the new contents whenever the file's modification time moves.
//!
//! The page carries the modification time of the contents it shows (`lastMod`, nanoseconds
//! since the Unix epoch in hexadecimal, as gorilla's does) and passes it back as
//! `/ws?lastMod=...`, so a change between loading the page and connecting is not missed and
//! an unchanged file is not sent twice. Without `lastMod` the first poll sends the file.
//!
//! The server polls the file every [`poll_period`](Config::poll_period) (gorilla: 10 s). If
//! the file cannot be read, the error text is sent instead, once per distinct error.
//! Keepalive is gorilla's: pings every [`ping_period`](Config::ping_period), and a client
//! that sends no pong within [`pong_wait`](Config::pong_wait) is disconnected.
//!
//! The handlers have the net/http shape and are mounted with [`compat::handler`]; see
//! `examples/filewatch.rs` for the server, [`router`] for the routes.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    routing::{any, get},
};
use bytes::Bytes;
use compat::{Body, BoxFuture, RequestExt, ResponseWriter};
use http::Request;
use websocket::{Conn, ConnHandle, MessageType, Upgrader};

/// The page served at `/`, with `{{DATA}}` and `{{LAST_MOD}}` to fill in.
const HOME_HTML: &str = include_str!("../examples/assets/filewatch.html");

/// The watched file and the connection's timing. [`Config::new`] has gorilla's values; tests
/// use shorter ones.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file to show.
    pub path: PathBuf,
    /// How often to check the file's modification time (gorilla's `filePeriod`, 10 s).
    pub poll_period: Duration,
    /// Time allowed to write the file to the peer (gorilla's `writeWait`, 10 s).
    pub write_wait: Duration,
    /// Time allowed to read the next pong message from the peer (60 s).
    pub pong_wait: Duration,
    /// How often to ping the peer; must be less than `pong_wait` (54 s).
    pub ping_period: Duration,
}

impl Config {
    /// Watches `path` with gorilla's periods.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let pong_wait = Duration::from_secs(60);
        Config {
            path: path.into(),
            poll_period: Self::DEFAULT_POLL_PERIOD,
            write_wait: Duration::from_secs(10),
            pong_wait,
            ping_period: pong_wait * 9 / 10,
        }
    }

    /// gorilla's `filePeriod`: 10 seconds.
    pub const DEFAULT_POLL_PERIOD: Duration = Duration::from_secs(10);
}

/// The largest message a client may send: it has nothing to say but pongs (gorilla: 512).
const MAX_MESSAGE_SIZE: u64 = 512;

/// The file server's routes: the page at `/` and the WebSocket endpoint at `/ws`, with the
/// handlers mounted through [`compat::handler`].
pub fn router(config: Config) -> Router {
    let config = Arc::new(config);
    Router::new()
        .route(
            "/",
            get(compat::handler(ServeHome {
                config: config.clone(),
            })),
        )
        .route(
            "/ws",
            any(compat::handler(ServeWs {
                config,
                // gorilla's `websocket.Upgrade(w, r, nil, 1024, 1024)`; its explicit origin
                // check is the upgrader's default one.
                upgrader: Upgrader::new()
                    .read_buffer_size(1024)
                    .write_buffer_size(1024),
            })),
        )
}

/// What one poll of the file found (gorilla's `readFileIfModified`).
struct Poll {
    /// The new contents, if the file changed since the given time.
    data: Option<Vec<u8>>,
    /// The modification time to compare against next time.
    last_mod: SystemTime,
}

/// Reads the file if its modification time is after `last_mod`.
async fn read_file_if_modified(path: &Path, last_mod: SystemTime) -> std::io::Result<Poll> {
    let modified = tokio::fs::metadata(path).await?.modified()?;
    if modified <= last_mod {
        return Ok(Poll {
            data: None,
            last_mod,
        });
    }
    let data = tokio::fs::read(path).await?;
    Ok(Poll {
        data: Some(data),
        last_mod: modified,
    })
}

/// `time` as gorilla's `lastMod` query value: nanoseconds since the Unix epoch, in hex.
fn format_last_mod(time: SystemTime) -> String {
    let nanos = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{nanos:x}")
}

/// The `lastMod` query value of `query`; the Unix epoch (so the first poll sends the file)
/// when it is absent or malformed.
fn parse_last_mod(query: Option<&str>) -> SystemTime {
    let value = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("lastMod="));
    // gorilla means to do this, but tests `err != nil` where it means `err == nil`, so it
    // always starts from the epoch.
    value
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        .map_or(UNIX_EPOCH, |nanos| UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Escapes text for an HTML element's content or a quoted attribute (what Go's
/// `html/template` does for `{{.Data}}`).
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The `/` handler (gorilla's `serveHome`): the page with the file's current contents.
struct ServeHome {
    config: Arc<Config>,
}

impl compat::Handler for ServeHome {
    fn serve_http<'a>(&'a self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> BoxFuture<'a> {
        Box::pin(self.serve_home(w, r))
    }
}

impl ServeHome {
    async fn serve_home(&self, w: &mut dyn ResponseWriter, _r: Request<Body>) {
        let (data, last_mod) = match read_file_if_modified(&self.config.path, UNIX_EPOCH).await {
            Ok(poll) => (
                String::from_utf8_lossy(&poll.data.unwrap_or_default()).into_owned(),
                poll.last_mod,
            ),
            Err(err) => (err.to_string(), UNIX_EPOCH),
        };
        // Substitute `{{LAST_MOD}}` first: the file's text could contain the other marker.
        let page = HOME_HTML
            .replace("{{LAST_MOD}}", &format_last_mod(last_mod))
            .replace("{{DATA}}", &html_escape(&data));
        crate::write_html(w, &page).await;
    }
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
        // Read before the upgrade: the request is not needed (nor `Send`-safe to borrow)
        // afterwards.
        let last_mod = parse_last_mod(r.raw_query());
        let conn = match self.upgrader.upgrade(w, &r, None).await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::info!("filewatch: upgrade: {err}");
                return;
            }
        };
        let writer = tokio::spawn(writer(conn.handle(), last_mod, self.config.clone()));
        reader(&conn, &self.config).await;
        // The client is gone: stop polling for it now rather than at the next failed write.
        writer.abort();
        let _ = conn.close().await;
    }
}

/// Reads (and discards) what the client sends, so that pongs are handled (gorilla's
/// `reader`). Returns when the connection fails or the client stops answering pings.
async fn reader(conn: &Conn, config: &Config) {
    conn.set_read_limit(MAX_MESSAGE_SIZE);
    conn.set_read_deadline(Some(Instant::now() + config.pong_wait));
    let handle = conn.handle();
    let pong_wait = config.pong_wait;
    conn.set_pong_handler(Some(move |_data: Bytes| {
        handle.set_read_deadline(Some(Instant::now() + pong_wait));
        async { Ok(()) }
    }));
    while conn.read_message().await.is_ok() {}
}

/// Polls the file and pings the client (gorilla's `writer`).
async fn writer(conn: ConnHandle, mut last_mod: SystemTime, config: Arc<Config>) {
    let now = tokio::time::Instant::now();
    let mut ping = tokio::time::interval_at(now + config.ping_period, config.ping_period);
    let mut poll = tokio::time::interval_at(now + config.poll_period, config.poll_period);
    // A slow disk must not turn into a burst of polls.
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = String::new();
    loop {
        let message = tokio::select! {
            _ = poll.tick() => {
                match read_file_if_modified(&config.path, last_mod).await {
                    Ok(found) => {
                        last_error.clear();
                        last_mod = found.last_mod;
                        // Text messages must be UTF-8; the file need not be.
                        found.data.map(|data| {
                            let text = String::from_utf8_lossy(&data).into_owned();
                            (MessageType::Text, text.into_bytes())
                        })
                    }
                    Err(err) => {
                        // Report an error once, not on every poll.
                        let text = err.to_string();
                        (text != last_error).then(|| {
                            last_error = text.clone();
                            (MessageType::Text, text.into_bytes())
                        })
                    }
                }
            }
            _ = ping.tick() => Some((MessageType::Ping, Vec::new())),
        };
        let Some((message_type, data)) = message else {
            continue;
        };
        conn.set_write_deadline(Some(Instant::now() + config.write_wait));
        if let Err(err) = conn.write_message(message_type, &data).await {
            tracing::debug!("filewatch: write: {err}");
            break;
        }
    }
    // Ends the reader too.
    let _ = conn.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_mod_round_trips() {
        let t = UNIX_EPOCH + Duration::from_nanos(0x1234_5678_9abc_def0);
        let query = format!("x=1&lastMod={}", format_last_mod(t));
        assert_eq!(parse_last_mod(Some(&query)), t);
        assert_eq!(parse_last_mod(None), UNIX_EPOCH);
        assert_eq!(parse_last_mod(Some("lastMod=zz")), UNIX_EPOCH);
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            html_escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
