//! Shared helpers for the integration tests: a real axum server on loopback and
//! a raw HTTP/1.1 client that shows exactly what went over the wire.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Serves `app` on `127.0.0.1:0` with `axum::serve` (so hyper's real upgrade
/// machinery is used) and returns the address.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines in wire order, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The connection, positioned right after what was read; for a `101`,
    /// the WebSocket starts here.
    pub stream: TcpStream,
}

impl RawResponse {
    /// The only value of header `name`; panics if it is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.header_all(name);
        assert!(all.len() <= 1, "{name} repeated: {all:?}");
        all.first().copied()
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// A request head for `path` with the given extra header lines (each
/// `Name: value`, no CRLF), plus `Host` unless one is given.
pub fn request(method: &str, path: &str, host: &str, lines: &[&str]) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !lines
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("host:"))
    {
        req.push_str(&format!("Host: {host}\r\n"));
    }
    for line in lines {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req
}

/// Sends a raw request and reads the response head, then the body when it has
/// a `Content-Length` (error responses). A `101` is read up to its blank line
/// only.
pub async fn send(addr: SocketAddr, request: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read byte by byte up to the end of the head, so nothing after it is
    // consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(
            n,
            1,
            "connection closed inside the head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts.next().unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let mut body = Vec::new();
    if status != 101 {
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse::<usize>().unwrap());
        if let Some(len) = len {
            body.resize(len, 0);
            stream.read_exact(&mut body).await.unwrap();
        }
    }
    RawResponse {
        status,
        headers,
        body,
        stream,
    }
}
