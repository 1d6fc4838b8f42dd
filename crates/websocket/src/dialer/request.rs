//! The client's half of the opening handshake, without I/O: the target URL,
//! the request bytes, and the checks on the server's response head.

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderName, Response, StatusCode, Uri, header};

use crate::{Error, handshake};

/// Where to connect and what to ask for, from a `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// `wss` (or `https`): TLS over the connection.
    pub(super) tls: bool,
    /// The host as written in the URL, brackets included for IPv6.
    pub(super) host: String,
    /// `host:port`, the default port filled in: what is dialed.
    pub(super) host_port: String,
    /// The authority as written (`host[:port]`): the `Host` header, as Go
    /// sends `u.Host`.
    pub(super) authority: String,
    /// Path and query, `/` when the URL has none.
    pub(super) path_and_query: String,
}

/// gorilla's `errMalformedURL`.
const MALFORMED_URL: &str = "malformed ws or wss URL";

impl Target {
    /// Parses `url`. Accepts `ws` and `wss` (RFC 6455), and also `http` and
    /// `https` as their aliases (gorilla refuses those; many clients accept
    /// them, and the meaning is unambiguous). Like gorilla, a URL with user
    /// information (`ws://user:pw@host/`) is refused: credentials belong in
    /// an `Authorization` header. Unlike gorilla, so is a fragment.
    pub(super) fn parse(url: &str) -> Result<Target, Error> {
        let malformed = || Error::invalid_argument(MALFORMED_URL);
        // RFC 6455 section 3: a fragment "MUST NOT be used" (`#` must be
        // escaped as `%23`). `Uri` would drop it silently, and gorilla
        // ignores it; refusing it tells the caller the URL means something
        // else than they think.
        if url.contains('#') {
            return Err(malformed());
        }
        let uri: Uri = url.parse().map_err(|_| malformed())?;
        let tls = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("ws" | "http") => false,
            Some("wss" | "https") => true,
            _ => return Err(malformed()),
        };
        let authority = uri.authority().ok_or_else(malformed)?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(malformed());
        }
        let host = authority.host().to_owned();
        // What follows the host: nothing, or `:` and a port (empty meaning
        // the default, as in Go). `Uri` lets any text through as a port.
        let port = match authority.as_str()[host.len()..].strip_prefix(':') {
            None | Some("") => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(port) => port.parse::<u16>().map_err(|_| malformed())?,
        };
        Ok(Target {
            tls,
            host_port: format!("{host}:{port}"),
            host,
            authority: authority.as_str().to_owned(),
            path_and_query: uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned(),
        })
    }

    /// The host without the brackets of an IPv6 literal: the TLS server name.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(super) fn server_name(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

/// A fresh `Sec-WebSocket-Key`: base64 of 16 random bytes (RFC 6455 4.1).
pub(super) fn new_challenge_key() -> String {
    STANDARD.encode(rand::random::<[u8; 16]>())
}

/// What the request offered, for checking the response against it.
#[derive(Debug, Default)]
pub(super) struct Offer {
    /// The subprotocols offered, from the dialer or the caller's
    /// `Sec-WebSocket-Protocol` header.
    pub(super) subprotocols: Vec<String>,
    /// Whether a `Sec-WebSocket-Extensions` offer was sent.
    pub(super) extensions: bool,
}

/// The message for a header the caller may not set: gorilla's text, with
/// gorilla's (Go-canonical) spelling of the name.
fn refused(name: &HeaderName, subprotocols_configured: bool) -> Option<&'static str> {
    Some(match name.as_str() {
        "upgrade" => "websocket: duplicate header not allowed: Upgrade",
        "connection" => "websocket: duplicate header not allowed: Connection",
        "sec-websocket-key" => "websocket: duplicate header not allowed: Sec-Websocket-Key",
        "sec-websocket-version" => "websocket: duplicate header not allowed: Sec-Websocket-Version",
        "sec-websocket-extensions" => {
            "websocket: duplicate header not allowed: Sec-Websocket-Extensions"
        }
        "sec-websocket-protocol" if subprotocols_configured => {
            "websocket: duplicate header not allowed: Sec-Websocket-Protocol"
        }
        _ => return None,
    })
}

/// Writes `name` the way Go's `CanonicalMIMEHeaderKey` spells it
/// (`x-api-key` as `X-Api-Key`). HTTP header names are case-insensitive, but
/// this keeps the wire bytes those of a gorilla client for servers that are
/// not.
fn push_canonical_name(out: &mut Vec<u8>, name: &HeaderName) {
    let mut upper = true;
    for &b in name.as_str().as_bytes() {
        out.push(if upper { b.to_ascii_uppercase() } else { b });
        upper = b == b'-';
    }
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The request head, as gorilla builds it: the handshake headers in the
/// RFC's capitalization (some servers depend on it), then the caller's.
///
/// The caller's headers may not repeat a handshake header (gorilla's list:
/// `Upgrade`, `Connection`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version`,
/// `Sec-WebSocket-Extensions`, and `Sec-WebSocket-Protocol` when the dialer
/// has subprotocols); a `Host` header replaces the URL's authority.
pub(super) fn build_request(
    target: &Target,
    key: &str,
    subprotocols: &[String],
    extensions_offer: Option<&[u8]>,
    headers: Option<&HeaderMap>,
) -> Result<(Vec<u8>, Offer), Error> {
    let empty = HeaderMap::new();
    let headers = headers.unwrap_or(&empty);
    if let Some(reason) = headers
        .keys()
        .find_map(|name| refused(name, !subprotocols.is_empty()))
    {
        return Err(Error::invalid_argument(reason));
    }

    let offer = Offer {
        subprotocols: if subprotocols.is_empty() {
            handshake::offered_subprotocols(headers)
        } else {
            subprotocols.to_vec()
        },
        extensions: extensions_offer.is_some(),
    };

    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target.path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let host = headers
        .get(header::HOST)
        .map_or(target.authority.as_bytes(), |h| h.as_bytes());
    push_header(&mut out, b"Host", host);
    push_header(&mut out, b"Upgrade", b"websocket");
    push_header(&mut out, b"Connection", b"Upgrade");
    push_header(&mut out, b"Sec-WebSocket-Key", key.as_bytes());
    push_header(&mut out, b"Sec-WebSocket-Version", b"13");
    if !subprotocols.is_empty() {
        push_header(
            &mut out,
            b"Sec-WebSocket-Protocol",
            subprotocols.join(", ").as_bytes(),
        );
    }
    for (name, value) in headers {
        if name == header::HOST {
            continue;
        }
        let mut line = Vec::new();
        if name == header::SEC_WEBSOCKET_PROTOCOL {
            // The RFC's spelling, as gorilla passes this one through.
            line.extend_from_slice(b"Sec-WebSocket-Protocol");
        } else {
            push_canonical_name(&mut line, name);
        }
        // `HeaderValue` cannot hold CR or LF, so a value cannot smuggle a
        // header line in.
        push_header(&mut out, &line, value.as_bytes());
    }
    if let Some(extensions) = extensions_offer {
        push_header(&mut out, b"Sec-WebSocket-Extensions", extensions);
    }
    out.extend_from_slice(b"\r\n");
    Ok((out, offer))
}

/// Checks a response head against the request (RFC 6455 4.1, gorilla's
/// checks first, in gorilla's order). On success, the selected subprotocol
/// (empty for none); on failure, the reason for the bad-handshake error.
pub(super) fn check_response(
    response: &Response<()>,
    key: &str,
    offer: &Offer,
) -> Result<String, String> {
    let headers = response.headers();
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(format!("unexpected status {}", response.status()));
    }
    if !handshake::token_list_contains(headers, header::UPGRADE, "websocket") {
        return Err("'websocket' token not found in 'Upgrade' header".to_owned());
    }
    if !handshake::token_list_contains(headers, header::CONNECTION, "upgrade") {
        return Err("'upgrade' token not found in 'Connection' header".to_owned());
    }
    let expected = handshake::accept_key(key.as_bytes());
    match headers.get(header::SEC_WEBSOCKET_ACCEPT) {
        None => return Err("missing 'Sec-WebSocket-Accept' header".to_owned()),
        Some(accept) if accept.as_bytes() != expected.as_bytes() => {
            return Err(format!(
                "'Sec-WebSocket-Accept' is {:?}, expected {expected:?}",
                String::from_utf8_lossy(accept.as_bytes())
            ));
        }
        Some(_) => {}
    }

    // RFC 6455 4.1 (6): a subprotocol the client did not offer fails the
    // connection. gorilla takes whatever the server sent; this is stricter.
    let mut selected = headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter();
    let subprotocol = match (selected.next(), selected.next()) {
        (None, _) => String::new(),
        (Some(_), Some(_)) => {
            return Err("more than one 'Sec-WebSocket-Protocol' header".to_owned());
        }
        (Some(value), None) => {
            let value = value.to_str().unwrap_or_default().trim();
            if !offer.subprotocols.iter().any(|p| p == value) {
                return Err(format!(
                    "server selected subprotocol {value:?}, which was not offered"
                ));
            }
            value.to_owned()
        }
    };

    // RFC 6455 4.1 (5): an extension the client did not ask for fails the
    // connection.
    let answered = headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .any(|v| !v.as_bytes().trim_ascii().is_empty());
    if answered && !offer.extensions {
        return Err(
            "server answered 'Sec-WebSocket-Extensions', which were not offered".to_owned(),
        );
    }
    Ok(subprotocol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    #[test]
    fn urls() {
        assert_eq!(
            target("ws://example.com/chat?room=1"),
            Target {
                tls: false,
                host: "example.com".into(),
                host_port: "example.com:80".into(),
                authority: "example.com".into(),
                path_and_query: "/chat?room=1".into(),
            }
        );
        let t = target("wss://Example.com");
        assert!(t.tls);
        assert_eq!(t.host_port, "Example.com:443");
        assert_eq!(t.path_and_query, "/");
        let t = target("ws://127.0.0.1:9001/runCase?case=1&agent=x");
        assert_eq!(t.host_port, "127.0.0.1:9001");
        assert_eq!(t.authority, "127.0.0.1:9001");
        assert_eq!(t.path_and_query, "/runCase?case=1&agent=x");
        let t = target("wss://[::1]:8443/x");
        assert_eq!(t.host_port, "[::1]:8443");
        assert_eq!(t.server_name(), "::1");
        let t = target("wss://[::1]/x");
        assert_eq!(t.host_port, "[::1]:443");
        assert_eq!(target("WS://h/").host_port, "h:80");
        assert_eq!(target("ws://h:/").host_port, "h:80");
        assert_eq!(target("http://h/").host_port, "h:80");
        assert!(target("https://h/").tls);
        assert_eq!(target("https://h/").server_name(), "h");
    }

    #[test]
    fn malformed_urls() {
        for url in [
            "",
            "example.com/chat",
            "/chat",
            "ftp://example.com/",
            "ws://user:pw@example.com/",
            "ws://user@example.com/",
            "ws:///path",
            "ws://exa mple.com/",
            "ws://example.com/#frag",
            "ws://example.com:port/",
            "ws://example.com:65536/",
        ] {
            let err = Target::parse(url).unwrap_err();
            assert!(err.is_invalid_argument(), "{url:?}: {err}");
            assert_eq!(err.to_string(), "websocket: malformed ws or wss URL");
        }
    }

    fn text(request: &[u8]) -> &str {
        std::str::from_utf8(request).unwrap()
    }

    #[test]
    fn request_bytes() {
        let mut headers = HeaderMap::new();
        headers.insert("origin", HeaderValue::from_static("http://example.com"));
        headers.append("x-api-key", HeaderValue::from_static("a"));
        headers.append("x-api-key", HeaderValue::from_static("b"));
        let (request, offer) = build_request(
            &target("ws://example.com:8080/chat?x=1"),
            "dGhlIHNhbXBsZSBub25jZQ==",
            &["chat.v2".into(), "chat.v1".into()],
            None,
            Some(&headers),
        )
        .unwrap();
        assert_eq!(
            text(&request),
            "GET /chat?x=1 HTTP/1.1\r\n\
             Host: example.com:8080\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n\
             Origin: http://example.com\r\n\
             X-Api-Key: a\r\n\
             X-Api-Key: b\r\n\
             \r\n"
        );
        assert_eq!(offer.subprotocols, ["chat.v2", "chat.v1"]);
        assert!(!offer.extensions);
    }

    #[test]
    fn host_header_overrides_and_protocol_header_passes_through() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("virtual.example"));
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("mqtt, wamp"),
        );
        let (request, offer) = build_request(
            &target("ws://10.0.0.1/"),
            "k",
            &[],
            Some(b"permessage-deflate"),
            Some(&headers),
        )
        .unwrap();
        let request = text(&request);
        assert!(request.starts_with("GET / HTTP/1.1\r\nHost: virtual.example\r\n"));
        assert_eq!(request.matches("Host:").count(), 1, "{request}");
        assert!(request.contains("\r\nSec-WebSocket-Protocol: mqtt, wamp\r\n"));
        assert!(request.ends_with("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"));
        assert_eq!(offer.subprotocols, ["mqtt", "wamp"]);
        assert!(offer.extensions);
    }

    #[test]
    fn refused_headers() {
        let cases: &[(&str, bool, &str)] = &[
            ("upgrade", false, "Upgrade"),
            ("Connection", false, "Connection"),
            ("sec-websocket-key", false, "Sec-Websocket-Key"),
            ("Sec-WebSocket-Version", false, "Sec-Websocket-Version"),
            (
                "sec-websocket-extensions",
                false,
                "Sec-Websocket-Extensions",
            ),
            ("sec-websocket-protocol", true, "Sec-Websocket-Protocol"),
        ];
        for &(name, with_subprotocols, canonical) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("x"),
            );
            let subprotocols = if with_subprotocols {
                vec!["chat".to_owned()]
            } else {
                Vec::new()
            };
            let err = build_request(&target("ws://h/"), "k", &subprotocols, None, Some(&headers))
                .unwrap_err();
            assert!(err.is_invalid_argument(), "{name}");
            assert_eq!(
                err.to_string(),
                format!("websocket: duplicate header not allowed: {canonical}")
            );
        }
    }

    #[test]
    fn challenge_keys_are_valid_and_fresh() {
        let a = new_challenge_key();
        let b = new_challenge_key();
        assert!(handshake::is_valid_challenge_key(a.as_bytes()), "{a}");
        assert_ne!(a, b);
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn response(status: u16, headers: &[(&'static str, &'static str)]) -> Response<()> {
        let mut builder = Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn good(extra: &[(&'static str, &'static str)]) -> Response<()> {
        let mut headers = vec![
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-accept", ACCEPT),
        ];
        headers.extend_from_slice(extra);
        response(101, &headers)
    }

    fn offer(subprotocols: &[&str]) -> Offer {
        Offer {
            subprotocols: subprotocols.iter().map(|s| (*s).to_owned()).collect(),
            extensions: false,
        }
    }

    #[test]
    fn accepts_a_good_response() {
        assert_eq!(
            check_response(&good(&[]), KEY, &offer(&[])),
            Ok(String::new())
        );
        assert_eq!(
            check_response(
                &good(&[("sec-websocket-protocol", "chat.v1")]),
                KEY,
                &offer(&["chat.v2", "chat.v1"])
            ),
            Ok("chat.v1".to_owned())
        );
    }

    #[test]
    fn refuses_bad_responses() {
        let cases: Vec<(Response<()>, Offer, &str)> = vec![
            (
                response(403, &[]),
                offer(&[]),
                "unexpected status 403 Forbidden",
            ),
            (
                response(200, &[("upgrade", "websocket")]),
                offer(&[]),
                "unexpected status 200 OK",
            ),
            (
                response(
                    101,
                    &[("connection", "upgrade"), ("sec-websocket-accept", ACCEPT)],
                ),
                offer(&[]),
                "'websocket' token not found in 'Upgrade' header",
            ),
            (
                response(
                    101,
                    &[("upgrade", "websocket"), ("sec-websocket-accept", ACCEPT)],
                ),
                offer(&[]),
                "'upgrade' token not found in 'Connection' header",
            ),
            (
                response(101, &[("upgrade", "websocket"), ("connection", "upgrade")]),
                offer(&[]),
                "missing 'Sec-WebSocket-Accept' header",
            ),
            (
                response(
                    101,
                    &[
                        ("upgrade", "websocket"),
                        ("connection", "upgrade"),
                        ("sec-websocket-accept", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                    ],
                ),
                offer(&[]),
                "'Sec-WebSocket-Accept' is \"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \
                 expected \"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\"",
            ),
            (
                good(&[("sec-websocket-protocol", "chat.v3")]),
                offer(&["chat.v2", "chat.v1"]),
                "server selected subprotocol \"chat.v3\", which was not offered",
            ),
            (
                good(&[("sec-websocket-protocol", "chat")]),
                offer(&[]),
                "server selected subprotocol \"chat\", which was not offered",
            ),
            (
                good(&[
                    ("sec-websocket-protocol", "a"),
                    ("sec-websocket-protocol", "b"),
                ]),
                offer(&["a", "b"]),
                "more than one 'Sec-WebSocket-Protocol' header",
            ),
            (
                good(&[("sec-websocket-extensions", "permessage-deflate")]),
                offer(&[]),
                "server answered 'Sec-WebSocket-Extensions', which were not offered",
            ),
        ];
        for (response, offer, reason) in cases {
            assert_eq!(
                check_response(&response, KEY, &offer),
                Err(reason.to_owned())
            );
        }
        // An empty extensions header answers nothing.
        assert!(
            check_response(
                &good(&[("sec-websocket-extensions", " ")]),
                KEY,
                &offer(&[])
            )
            .is_ok()
        );
    }
}
