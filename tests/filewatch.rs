//! The filewatch demo over real loopback sockets, with tokio-tungstenite as the browser.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use futures_util::StreamExt;
use gorilla_axum::filewatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The poll period the tests use, instead of gorilla's 10 s.
const POLL: Duration = Duration::from_millis(50);

/// A change must show up within this.
const LIMIT: Duration = Duration::from_secs(5);

/// A fresh scratch file holding `contents`, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "gorilla-axum-filewatch-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn serve(path: &Path) -> SocketAddr {
    let mut config = filewatch::Config::new(path);
    config.poll_period = POLL;
    let app = filewatch::router(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn connect(addr: SocketAddr, query: &str) -> Client {
    let (ws, _) = connect_async(format!("ws://{addr}/ws{query}"))
        .await
        .unwrap();
    ws
}

async fn next_text(ws: &mut Client, within: Duration) -> Option<String> {
    loop {
        let message = match tokio::time::timeout(within, ws.next()).await {
            Err(_) => return None,
            Ok(message) => message.expect("the connection is open").unwrap(),
        };
        match message {
            Message::Text(text) => return Some(text.to_string()),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Rewrites the file. Waits a little first: some file systems keep modification times in
/// coarse ticks, and a rewrite within the same tick would look unchanged (to gorilla too).
async fn rewrite(path: &Path, contents: &str) {
    tokio::time::sleep(Duration::from_millis(30)).await;
    std::fs::write(path, contents).unwrap();
}

async fn get_home(addr: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[tokio::test]
async fn pushes_the_file_when_it_changes() {
    let file = Scratch::new("changes", "first version");
    let addr = serve(&file.0).await;
    // No lastMod: the first poll sends the current contents.
    let mut ws = connect(addr, "").await;
    assert_eq!(next_text(&mut ws, LIMIT).await.unwrap(), "first version");
    // Unchanged: nothing more.
    assert_eq!(next_text(&mut ws, POLL * 4).await, None);

    rewrite(&file.0, "second version").await;
    assert_eq!(next_text(&mut ws, LIMIT).await.unwrap(), "second version");
    rewrite(&file.0, "third version").await;
    assert_eq!(next_text(&mut ws, LIMIT).await.unwrap(), "third version");
}

#[tokio::test]
async fn the_page_shows_the_file_and_its_last_mod() {
    let file = Scratch::new("page", "<b>not bold</b> & more");
    let addr = serve(&file.0).await;
    let page = get_home(addr).await;
    assert!(
        page.contains("&lt;b&gt;not bold&lt;/b&gt; &amp; more"),
        "{page}"
    );
    let last_mod = page
        .split("const lastMod = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries lastMod")
        .to_owned();
    assert!(u64::from_str_radix(&last_mod, 16).unwrap() > 0);

    // Connecting with the page's lastMod: the contents it shows are not sent again...
    let mut ws = connect(addr, &format!("?lastMod={last_mod}")).await;
    assert_eq!(next_text(&mut ws, POLL * 4).await, None);
    // ...but a change is.
    rewrite(&file.0, "changed").await;
    assert_eq!(next_text(&mut ws, LIMIT).await.unwrap(), "changed");
}

#[tokio::test]
async fn a_missing_file_is_reported_once() {
    let file = Scratch::new("missing", "here for now");
    let addr = serve(&file.0).await;
    let mut ws = connect(addr, "").await;
    assert_eq!(next_text(&mut ws, LIMIT).await.unwrap(), "here for now");

    std::fs::remove_file(&file.0).unwrap();
    let error = next_text(&mut ws, LIMIT).await.unwrap();
    assert!(error.contains("No such file"), "{error}");
    // The same error is not repeated on every poll.
    assert_eq!(next_text(&mut ws, POLL * 4).await, None);

    rewrite(&file.0, "back again").await;
    assert_eq!(next_text(&mut ws, LIMIT).await.unwrap(), "back again");
}
