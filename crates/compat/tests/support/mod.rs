//! Shared helpers for compat's integration tests.
//!
//! Every test starts a real `axum::serve` on `127.0.0.1:0` and talks to it over a real loopback
//! socket. [`Client`] is a deliberately small hand-written HTTP/1.1 client: it writes the bytes
//! a test gives it and parses responses byte by byte, so a test can assert exactly what went
//! over the wire (chunk boundaries, a missing terminating chunk, bytes after a `101`).
//!
//! Every wait is bounded by [`TIMEOUT`]: a bug fails the test instead of hanging it.

#![allow(dead_code, unreachable_pub)]

use std::{future::Future, io, net::SocketAddr, time::Duration};

use axum::Router;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// The longest any single wait in a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test if it takes longer than [`TIMEOUT`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {TIMEOUT:?}: {what}"),
    }
}

async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Serves `app` with plain `axum::serve` on a fresh loopback port.
pub async fn serve(app: Router) -> SocketAddr {
    let (listener, addr) = bind().await;
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

/// Serves `app` with `into_make_service_with_connect_info::<SocketAddr>()`.
pub async fn serve_with_connect_info(app: Router) -> SocketAddr {
    let (listener, addr) = bind().await;
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve")
    });
    addr
}

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The head exactly as received, without the final blank line.
    pub raw: String,
}

impl Head {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")
            .map(|v| v.parse().expect("numeric content-length"))
    }
}

/// A raw HTTP/1.1 client over one TCP connection.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = within("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// The client's own address: what the server should see as the peer.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    /// Writes `bytes` in a single `write_all`.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        within("send", self.stream.write_all(bytes.as_ref()))
            .await
            .expect("send");
    }

    /// Sends a request head with no body: `METHOD path HTTP/1.1`, `Host`, then `headers`.
    pub async fn send_head(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) {
        self.send(request_head(method, path, headers)).await;
    }

    /// Reads more bytes into the buffer; `Ok(0)` at EOF.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn fill_or_eof(&mut self) -> io::Result<()> {
        if self.fill().await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed; unparsed bytes: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            ));
        }
        Ok(())
    }

    async fn take_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = self.buf.drain(..i + 2).collect::<Vec<_>>();
                return Ok(String::from_utf8(line[..i].to_vec()).expect("utf-8 line"));
            }
            self.fill_or_eof().await?;
        }
    }

    async fn take_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill_or_eof().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads and parses one response head.
    pub async fn try_read_head(&mut self) -> io::Result<Head> {
        within("response head", async {
            let end = loop {
                if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                    break i;
                }
                self.fill_or_eof().await?;
            };
            let raw = String::from_utf8(self.buf[..end].to_vec()).expect("utf-8 head");
            self.buf.drain(..end + 4);
            let mut lines = raw.split("\r\n");
            let status_line = lines.next().expect("status line");
            let mut parts = status_line.splitn(3, ' ');
            assert_eq!(parts.next(), Some("HTTP/1.1"), "status line: {status_line}");
            let status = parts
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad status line: {status_line}"));
            let headers = lines
                .map(|l| {
                    let (k, v) = l.split_once(':').expect("header line");
                    (k.trim().to_owned(), v.trim().to_owned())
                })
                .collect();
            Ok(Head {
                status,
                headers,
                raw,
            })
        })
        .await
    }

    pub async fn read_head(&mut self) -> Head {
        self.try_read_head().await.expect("read response head")
    }

    /// Reads one chunk of a chunked body: `Some(data)`, or `None` for the terminating
    /// zero-size chunk (its trailer section is consumed too).
    pub async fn try_read_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        within("chunk", async {
            let line = self.take_line().await?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16)
                .unwrap_or_else(|_| panic!("bad chunk size line: {line:?}"));
            if size == 0 {
                while !self.take_line().await?.is_empty() {}
                return Ok(None);
            }
            let data = self.take_exact(size).await?;
            let crlf = self.take_exact(2).await?;
            assert_eq!(crlf, b"\r\n", "chunk not followed by CRLF");
            Ok(Some(data))
        })
        .await
    }

    pub async fn read_chunk(&mut self) -> Option<Vec<u8>> {
        self.try_read_chunk().await.expect("read chunk")
    }

    /// Reads chunks up to and including the terminating chunk.
    pub async fn read_chunked_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        while let Some(chunk) = self.read_chunk().await {
            body.extend_from_slice(&chunk);
        }
        body
    }

    /// Reads exactly `n` bytes.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        within("read exact", self.take_exact(n))
            .await
            .expect("read exact")
    }

    /// Reads the body `head` announces: `Content-Length` or chunked. A response with neither
    /// has no body here (the tests never use close-delimited bodies).
    pub async fn read_body(&mut self, head: &Head) -> Vec<u8> {
        if head.is_chunked() {
            assert!(
                !head.has("content-length"),
                "both chunked and content-length:\n{}",
                head.raw
            );
            self.read_chunked_body().await
        } else if let Some(n) = head.content_length() {
            self.read_exact(n).await
        } else {
            Vec::new()
        }
    }

    /// Reads until the peer closes the connection.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        within("read to end", async {
            while self.fill().await.expect("read to end") > 0 {}
        })
        .await;
        std::mem::take(&mut self.buf)
    }

    /// Asserts that no byte is buffered and none arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        assert!(
            self.buf.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        if let Ok(res) = tokio::time::timeout(wait, self.fill()).await {
            panic!(
                "expected silence, got {res:?}: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Bytes read from the socket but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// The socket, and the bytes already read from it but not consumed.
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        (self.stream, self.buf)
    }
}

/// `METHOD path HTTP/1.1` with a `Host` header and `headers`, ending in the blank line.
pub fn request_head(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str("Host: test.local\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// One request without a body on a fresh connection; returns the head and the body.
pub async fn fetch(addr: SocketAddr, method: &str, path: &str) -> (Head, Vec<u8>) {
    let mut client = Client::connect(addr).await;
    client.send_head(method, path, &[]).await;
    let head = client.read_head().await;
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        client.read_body(&head).await
    };
    (head, body)
}

/// `fetch` with the body as a string.
pub async fn fetch_text(addr: SocketAddr, method: &str, path: &str) -> (Head, String) {
    let (head, body) = fetch(addr, method, path).await;
    (head, String::from_utf8(body).expect("utf-8 body"))
}

/// An HTTP/2 connection with prior knowledge (h2c) to `addr`, driven in a background task.
/// `axum::serve` detects the HTTP/2 preface and advertises extended CONNECT (RFC 8441).
pub async fn h2_connect<B>(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    let (mut send, conn) = within(
        "h2 handshake",
        hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tcp),
        ),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    within("h2 ready", send.ready()).await.expect("h2 ready");
    send
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
