//! Reading the server's response: the head with `httparse`, and for a
//! refused handshake the start of the body.

use std::io;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, Version, header};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{Error, handshake};

/// The largest response head accepted. A server sending more is not
/// answering a WebSocket handshake.
pub(super) const MAX_HEAD: usize = 64 * 1024;

/// Header slots tried first; doubled while the head has more, up to
/// `MAX_HEADERS`.
const INITIAL_HEADERS: usize = 32;
const MAX_HEADERS: usize = 1024;

/// Parses a complete response head at the start of `buf`: its length and the
/// response. `Ok(None)` when more bytes are needed.
pub(super) fn parse_head(buf: &[u8]) -> Result<Option<(usize, Response<()>)>, Error> {
    let mut slots = INITIAL_HEADERS;
    loop {
        let mut headers = vec![httparse::EMPTY_HEADER; slots];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                return to_response(&parsed).map(|r| Some((len, r)));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) if slots < MAX_HEADERS => slots *= 2,
            Err(err) => {
                return Err(Error::bad_handshake(format!(
                    "malformed HTTP response: {err}"
                )));
            }
        }
    }
}

fn to_response(parsed: &httparse::Response<'_, '_>) -> Result<Response<()>, Error> {
    let malformed = |what: &str| Error::bad_handshake(format!("malformed HTTP response: {what}"));
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| malformed("invalid status code"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| malformed("invalid header name"))?;
        let value =
            HeaderValue::from_bytes(h.value).map_err(|_| malformed("invalid header value"))?;
        headers.append(name, value);
    }
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    Ok(response)
}

/// Reads until `buf` holds a whole response head. Returns the response and
/// leaves in `buf` only what followed the head: the first bytes of the
/// WebSocket (or of an error body).
pub(super) async fn read_head<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
) -> Result<Response<()>, Error> {
    loop {
        if let Some((len, response)) = parse_head(buf)? {
            let _ = buf.split_to(len);
            return Ok(response);
        }
        if buf.len() >= MAX_HEAD {
            return Err(Error::bad_handshake(format!(
                "response head larger than {MAX_HEAD} bytes"
            )));
        }
        buf.reserve(4096);
        if io.read_buf(buf).await? == 0 {
            // As Go's http.ReadResponse: an I/O error, not a bad handshake.
            return Err(Error::io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the handshake response was complete",
            )));
        }
    }
}

/// How the body of a response is delimited (RFC 9112 section 6.3).
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

fn framing(response: &Response<()>) -> Framing {
    let status = response.status();
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Framing::None;
    }
    let headers = response.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        let chunked_last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| handshake::header_tokens(v.as_bytes()))
            .last()
            .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        return if chunked_last {
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
    }
    match headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
    {
        Some(len) => Framing::Length(len),
        None => Framing::UntilClose,
    }
}

/// Reads more into `buf`; `false` at EOF or on an error.
async fn read_more<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut) -> bool {
    buf.reserve(1024);
    matches!(io.read_buf(buf).await, Ok(n) if n > 0)
}

/// Reads at most `limit` bytes of the body of a refused handshake's
/// `response` into `body` (decoded, if chunked), starting with the bytes
/// already in `buf`. Best effort: it stops at EOF or an error, and the
/// caller bounds its time. Bytes are moved to `body` as they arrive, so what
/// was read when the time is up stays there.
pub(super) async fn read_error_body<R: AsyncRead + Unpin>(
    io: &mut R,
    response: &Response<()>,
    mut buf: BytesMut,
    limit: usize,
    body: &mut Vec<u8>,
) {
    let until = |len: u64| usize::try_from(len).unwrap_or(usize::MAX).min(limit);
    match framing(response) {
        Framing::None => {}
        Framing::Length(len) => copy_up_to(io, &mut buf, until(len), body).await,
        Framing::UntilClose => copy_up_to(io, &mut buf, limit, body).await,
        Framing::Chunked => {
            // Each round: a chunk-size line, its data (moved out as it
            // arrives), the CRLF after it.
            while body.len() < limit {
                let size = match httparse::parse_chunk_size(&buf) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        let _ = buf.split_to(n);
                        size
                    }
                    Ok(httparse::Status::Partial) if read_more(io, &mut buf).await => continue,
                    Ok(httparse::Status::Partial) | Err(_) => return,
                };
                if size == 0 {
                    return;
                }
                let start = body.len();
                let end = start.saturating_add(until(size)).min(limit);
                copy_up_to(io, &mut buf, end, body).await;
                if body.len() < end || ((end - start) as u64) < size {
                    return; // EOF inside the chunk, or the limit reached
                }
                while buf.len() < 2 {
                    if !read_more(io, &mut buf).await {
                        return;
                    }
                }
                let _ = buf.split_to(2);
            }
        }
    }
}

/// Moves bytes from `buf`, then from `io`, to `body` until it holds `end`
/// bytes or the input ends. Whatever is left in `buf` follows.
async fn copy_up_to<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    end: usize,
    body: &mut Vec<u8>,
) {
    loop {
        let take = buf.len().min(end.saturating_sub(body.len()));
        body.extend_from_slice(&buf.split_to(take));
        if body.len() >= end || !read_more(io, buf).await {
            return;
        }
    }
}

/// The refused response with the start of its body, for
/// [`Error::response`].
pub(super) fn with_body(response: Response<()>, body: Vec<u8>) -> Response<Bytes> {
    response.map(|()| Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_parsing() {
        let raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    Connection: Upgrade\r\nX-A: 1\r\nx-a: 2\r\n\r\n\x81\x02hi";
        let (len, response) = parse_head(raw).unwrap().unwrap();
        assert_eq!(&raw[len..], b"\x81\x02hi");
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.version(), Version::HTTP_11);
        assert_eq!(response.headers()["upgrade"], "websocket");
        let xs: Vec<_> = response.headers().get_all("x-a").iter().collect();
        assert_eq!(xs, ["1", "2"]);

        assert!(parse_head(b"HTTP/1.1 101 Switching").unwrap().is_none());
        assert!(parse_head(b"").unwrap().is_none());
        let (_, response) = parse_head(b"HTTP/1.0 403 Forbidden\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(response.version(), Version::HTTP_10);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn many_headers_grow_the_slots() {
        let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..300 {
            raw.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        let (_, response) = parse_head(&raw).unwrap().unwrap();
        assert_eq!(response.headers().len(), 300);
    }

    #[test]
    fn malformed_heads_are_bad_handshakes() {
        for raw in [
            &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
        ] {
            let err = parse_head(raw).unwrap_err();
            assert!(err.is_handshake(), "{raw:?}");
            assert!(err.to_string().contains("malformed HTTP response"), "{err}");
        }
    }

    fn head(raw: &str) -> Response<()> {
        parse_head(raw.as_bytes()).unwrap().unwrap().1
    }

    async fn body_of(raw_head: &str, already: &[u8], rest: &[u8], limit: usize) -> Vec<u8> {
        let response = head(raw_head);
        let mut rest = rest;
        let mut body = Vec::new();
        read_error_body(
            &mut rest,
            &response,
            BytesMut::from(already),
            limit,
            &mut body,
        )
        .await;
        body
    }

    #[tokio::test]
    async fn error_bodies() {
        let len = "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(body_of(len, b"no", b" way and more", 1024).await, b"no wa");
        assert_eq!(body_of(len, b"", b"abc", 1024).await, b"abc");
        assert_eq!(body_of(len, b"abcdef", b"", 3).await, b"abc");

        let eof = "HTTP/1.1 500 Oops\r\n\r\n";
        assert_eq!(body_of(eof, b"ab", b"cd", 1024).await, b"abcd");
        assert_eq!(body_of(eof, b"ab", b"cdef", 3).await, b"abc");

        let chunked = "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            body_of(
                chunked,
                b"3\r\nabc\r\n",
                b"4;x=y\r\ndefg\r\n0\r\n\r\nJUNK",
                1024
            )
            .await,
            b"abcdefg"
        );
        assert_eq!(
            body_of(chunked, b"", b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", 5).await,
            b"abcde"
        );
        // Cut short: what arrived is kept.
        assert_eq!(body_of(chunked, b"5\r\nab", b"", 1024).await, b"ab");
        assert_eq!(body_of(chunked, b"zz\r\n", b"", 1024).await, b"");

        let none = "HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(body_of(none, b"xx", b"yy", 1024).await, b"");
        let switching = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert_eq!(body_of(switching, b"\x81\x00", b"", 1024).await, b"");
    }
}
