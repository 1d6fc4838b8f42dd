//! The server side of the opening handshake: reading the request's headers.
//!
//! Everything here is synchronous and allocation-light: header token lists
//! (`Connection: keep-alive, Upgrade`), the `Sec-WebSocket-Extensions` grammar,
//! the client's subprotocol offer, the same-origin rule and the challenge key.
//! [`Upgrader`](crate::Upgrader) strings them together in gorilla's order.
//!
//! Deviations from gorilla, all towards RFC 7230/6455 and all documented where
//! they happen: empty list elements (`a, , b`) are skipped instead of ending
//! the list, [`subprotocols`] reads every `Sec-WebSocket-Protocol` line rather
//! than only the first, and the same-origin check fails an `Origin` whose host
//! carries `%` escapes or a request without any host.

use std::borrow::Cow;

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use http::{
    HeaderMap, Method, Request, Uri, Version,
    header::{self, AsHeaderName},
};

/// `tchar` of RFC 7230 section 3.2.6 (the same set as RFC 2616's token octets).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Drops leading linear whitespace (space and horizontal tab).
fn skip_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

/// Splits off the leading token; the token is empty when `s` does not start
/// with one.
fn next_token(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|&&b| is_tchar(b)).count();
    s.split_at(n)
}

/// Splits off a leading token or quoted-string (unescaped). `None` when there
/// is neither, or the quoted-string is not terminated.
fn next_token_or_quoted(s: &[u8]) -> Option<(Cow<'_, [u8]>, &[u8])> {
    let Some(quoted) = s.strip_prefix(b"\"") else {
        let (token, rest) = next_token(s);
        return (!token.is_empty()).then_some((Cow::Borrowed(token), rest));
    };
    let mut value = Vec::new();
    let mut escaped = false;
    for (i, &b) in quoted.iter().enumerate() {
        match b {
            _ if escaped => {
                escaped = false;
                value.push(b);
            }
            b'\\' => escaped = true,
            b'"' => return Some((Cow::Owned(value), &quoted[i + 1..])),
            _ => value.push(b),
        }
    }
    None
}

/// The tokens of one `1#token` header value, in order.
///
/// Like gorilla, the list ends at the first malformed element (something that
/// is not a token followed by optional whitespace and a comma or the end);
/// the malformed element itself is not yielded. Unlike gorilla, empty
/// elements (`a, , b`, a leading comma) are skipped, as RFC 7230 section 7
/// requires of recipients.
pub(crate) fn header_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = value;
    std::iter::from_fn(move || {
        loop {
            rest = skip_space(rest);
            match rest.first() {
                None => return None,
                Some(b',') => {
                    rest = &rest[1..];
                    continue;
                }
                Some(_) => {}
            }
            let (token, after) = next_token(rest);
            let after = skip_space(after);
            if token.is_empty() || !(after.is_empty() || after[0] == b',') {
                rest = &[];
                return None;
            }
            rest = after;
            return Some(token);
        }
    })
}

/// Whether any `name` header holds `value` as a token, compared with ASCII
/// case folding (gorilla's `tokenListContainsValue`).
pub(crate) fn token_list_contains(
    headers: &HeaderMap,
    name: impl AsHeaderName,
    value: &str,
) -> bool {
    headers.get_all(name).iter().any(|v| {
        header_tokens(v.as_bytes()).any(|token| token.eq_ignore_ascii_case(value.as_bytes()))
    })
}

/// The parameters of one offered extension: `(name, value)`, where the value
/// is `None` for a bare `; server_no_context_takeover` and the unescaped
/// token or quoted-string otherwise.
pub(crate) type ExtensionParams = Vec<(String, Option<String>)>;

/// Parses every `Sec-WebSocket-Extensions` header into `(extension, params)`
/// pairs, in order (RFC 6455 section 9.1, RFC 7692):
///
/// ```text
/// extension-list  = 1#extension
/// extension       = extension-token *( ";" extension-param )
/// extension-param = token [ "=" (token | quoted-string) ]
/// ```
///
/// As in gorilla, a malformed extension ends the parse of the header line it
/// is on (the extensions before it on that line are kept); other lines are
/// still parsed. Stricter than gorilla: `param=` with no value and an
/// unterminated quoted-string are malformed (gorilla reads them as an empty
/// value). Whether a quoted value is itself a token, as RFC 6455 requires, is
/// left to the extension's negotiation.
///
/// This lenient reading suits a server, which only ever declines what it
/// cannot read; a client judging the server's answer uses
/// [`parse_extensions_strict`].
pub(crate) fn parse_extensions(headers: &HeaderMap) -> Vec<(String, ExtensionParams)> {
    let mut result = Vec::new();
    for line in headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS) {
        parse_extension_line(line.as_bytes(), &mut result);
    }
    result
}

/// [`parse_extensions`], except that any malformed line makes the whole
/// header unreadable (`None`): a client must not guess at which extensions a
/// server agreed to (RFC 6455 section 4.1).
pub(crate) fn parse_extensions_strict(
    headers: &HeaderMap,
) -> Option<Vec<(String, ExtensionParams)>> {
    let mut result = Vec::new();
    for line in headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS) {
        if !parse_extension_line(line.as_bytes(), &mut result) {
            return None;
        }
    }
    Some(result)
}

/// Appends the extensions of one header line to `out`; returns `false` when
/// the line is malformed (the extensions before the malformed one are kept).
fn parse_extension_line(line: &[u8], out: &mut Vec<(String, ExtensionParams)>) -> bool {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut s = line;
    loop {
        s = skip_space(s);
        if let Some(after_comma) = s.strip_prefix(b",") {
            // An empty list element.
            s = after_comma;
            continue;
        }
        if s.is_empty() {
            return true;
        }
        let (name, rest) = next_token(s);
        if name.is_empty() {
            return false;
        }
        s = rest;
        let mut params = Vec::new();
        loop {
            s = skip_space(s);
            let Some(after_semi) = s.strip_prefix(b";") else {
                break;
            };
            let (param, rest) = next_token(skip_space(after_semi));
            if param.is_empty() {
                return false;
            }
            s = skip_space(rest);
            let mut value = None;
            if let Some(after_eq) = s.strip_prefix(b"=") {
                let Some((v, rest)) = next_token_or_quoted(skip_space(after_eq)) else {
                    return false;
                };
                value = Some(text(&v));
                s = skip_space(rest);
            }
            if !(s.is_empty() || s[0] == b',' || s[0] == b';') {
                return false;
            }
            params.push((text(param), value));
        }
        if !(s.is_empty() || s[0] == b',') {
            return false;
        }
        out.push((text(name), params));
    }
}

/// Whether `r` asks for a WebSocket (gorilla's `IsWebSocketUpgrade`).
///
/// True for an HTTP/1.1 request whose `Connection` header holds the `upgrade`
/// token and whose `Upgrade` header holds `websocket` (case-insensitive), and
/// for an HTTP/2 extended CONNECT request (RFC 8441).
///
/// # HTTP/2
///
/// An extended CONNECT names its protocol in the `:protocol` pseudo-header,
/// which hyper stores in the request extensions as `hyper::ext::Protocol`.
/// This crate does not depend on hyper, so it recognises an extended CONNECT
/// by its shape instead: method `CONNECT`, version HTTP/2 and a URI with a
/// scheme and a path (h2 rejects `:scheme` and `:path` on a CONNECT without
/// `:protocol`). The `:protocol` value itself is not checked: a server that
/// also serves other extended-CONNECT protocols on the same route must check
/// `hyper::ext::Protocol` itself.
///
/// ```
/// let r = http::Request::get("/chat")
///     .header("connection", "keep-alive, Upgrade")
///     .header("upgrade", "websocket")
///     .body(())
///     .unwrap();
/// assert!(websocket::is_websocket_upgrade(&r));
/// ```
pub fn is_websocket_upgrade<B>(r: &Request<B>) -> bool {
    is_extended_connect(r.method(), r.version(), r.uri()) || is_upgrade_request(r.headers())
}

/// `Connection: upgrade` and `Upgrade: websocket`.
pub(crate) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    token_list_contains(headers, header::CONNECTION, "upgrade")
        && token_list_contains(headers, header::UPGRADE, "websocket")
}

/// An HTTP/2 extended CONNECT (RFC 8441), recognised by its shape; see
/// [`is_websocket_upgrade`] for why `:protocol` is not read.
pub(crate) fn is_extended_connect(method: &Method, version: Version, uri: &Uri) -> bool {
    method == Method::CONNECT
        && version == Version::HTTP_2
        && uri.scheme().is_some()
        && !uri.path().is_empty()
}

/// The subprotocols the client offers in `Sec-WebSocket-Protocol`, in its
/// order of preference (gorilla's `Subprotocols`).
///
/// Empty when the header is absent. Unlike gorilla, which reads only the first
/// header line and keeps empty elements, every line is read (RFC 7230 treats
/// repeated lines as one comma-joined list) and empty elements are dropped.
///
/// ```
/// let r = http::Request::get("/chat")
///     .header("sec-websocket-protocol", "chat.v2, chat.v1")
///     .body(())
///     .unwrap();
/// assert_eq!(websocket::subprotocols(&r), ["chat.v2", "chat.v1"]);
/// ```
pub fn subprotocols<B>(r: &Request<B>) -> Vec<String> {
    offered_subprotocols(r.headers())
}

/// [`subprotocols`] on a header map.
pub(crate) fn offered_subprotocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

/// gorilla's default origin policy (`checkSameOrigin`): passes when the
/// request has no `Origin`; otherwise the origin's `host[:port]` must equal
/// the request's host (`Host`, or the URI authority on HTTP/2) under ASCII
/// case folding. An `Origin` that does not parse fails, and so does a request
/// that has an `Origin` but no host at all.
pub(crate) fn check_same_origin(headers: &HeaderMap, request_host: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(request_host)) = (origin.to_str(), request_host) else {
        return false;
    };
    origin_host(origin).is_some_and(|host| host.eq_ignore_ascii_case(request_host))
}

/// The `host[:port]` of a URL, as Go's `url.Parse(s).Host` reads it; `None`
/// where `url.Parse` fails. A URL without an authority (`null`, `file:x`) has
/// an empty host.
///
/// Stricter than Go in one place: a host with `%` escapes is refused rather
/// than unescaped (no browser sends one in an `Origin`).
pub(crate) fn origin_host(url: &str) -> Option<&str> {
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None; // "net/url: invalid control character in URL"
    }
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let (has_scheme, rest) = match split_scheme(url)? {
        Some((_, rest)) => (true, rest),
        None => {
            // Without a scheme, a colon in the first path segment is an error.
            let first_segment = url.split('/').next().unwrap_or("");
            if !url.starts_with('/') && first_segment.contains(':') {
                return None;
            }
            (false, url)
        }
    };
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let authority = match rest.strip_prefix("//") {
        Some(after) if has_scheme || !after.starts_with('/') => after
            .split_once('/')
            .map_or(after, |(authority, _)| authority),
        _ => return Some(""),
    };
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    valid_url_host(host).then_some(host)
}

/// Go's `getScheme`: `Ok(Some((scheme, rest)))`, `Ok(None)` when there is no
/// scheme, `None` for a URL starting with `:`.
fn split_scheme(url: &str) -> Option<Option<(&str, &str)>> {
    for (i, b) in url.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return None, // "missing protocol scheme"
            b':' => return Some(Some((&url[..i], &url[i + 1..]))),
            _ => return Some(None),
        }
    }
    Some(None)
}

/// Go's `parseHost` validity rules: an optional numeric port after the last
/// colon (after the `]` of an IP literal), and only characters that need no
/// escaping in a host.
fn valid_url_host(host: &str) -> bool {
    let valid_port = |p: &str| {
        p.is_empty()
            || p.strip_prefix(':')
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    };
    let port_ok = if host.starts_with('[') {
        match host.rfind(']') {
            Some(i) => valid_port(&host[i + 1..]),
            None => false, // "missing ']' in host"
        }
    } else {
        host.rfind(':').is_none_or(|i| valid_port(&host[i..]))
    };
    port_ok
        && host.bytes().all(|b| {
            b >= 0x80 || b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]<>\"".contains(&b)
        })
}

/// Whether `key` is a valid `Sec-WebSocket-Key`: base64 (standard alphabet,
/// padded) of exactly 16 bytes (RFC 6455 section 4.1; gorilla's
/// `isValidChallengeKey`). Like Go's `base64.StdEncoding`, non-zero bits in
/// the last character's padding are tolerated.
pub(crate) fn is_valid_challenge_key(key: &[u8]) -> bool {
    const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    // 16 bytes encode to 24 characters; checking first bounds the work.
    key.len() == 24
        && LENIENT_STANDARD
            .decode(key)
            .is_ok_and(|decoded| decoded.len() == 16)
}

/// The `Sec-WebSocket-Accept` value for a client's key.
pub(crate) fn accept_key(key: &[u8]) -> String {
    tungstenite::handshake::derive_accept_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn tokens(value: &str) -> Vec<&str> {
        header_tokens(value.as_bytes())
            .map(|t| std::str::from_utf8(t).unwrap())
            .collect()
    }

    #[test]
    fn token_lists() {
        assert_eq!(tokens("keep-alive, Upgrade"), ["keep-alive", "Upgrade"]);
        assert_eq!(tokens(" \tupgrade\t "), ["upgrade"]);
        assert_eq!(tokens("a,b,,c , ,d"), ["a", "b", "c", "d"]);
        assert_eq!(tokens(", a"), ["a"]);
        assert_eq!(tokens(""), Vec::<&str>::new());
        assert_eq!(tokens("  ,  "), Vec::<&str>::new());
        // A malformed element ends the list; it is not yielded itself.
        assert_eq!(tokens("a, b c, d"), ["a"]);
        assert_eq!(tokens("a, \"b\", c"), ["a"]);
        assert_eq!(tokens("a;q=1, b"), Vec::<&str>::new());
    }

    #[test]
    fn token_list_contains_is_case_insensitive_and_reads_every_line() {
        let h = headers(&[("connection", "keep-alive"), ("connection", "UpGrade")]);
        assert!(token_list_contains(&h, header::CONNECTION, "upgrade"));
        assert!(token_list_contains(&h, "Connection", "KEEP-ALIVE"));
        assert!(!token_list_contains(&h, header::CONNECTION, "close"));
        assert!(!token_list_contains(&h, header::UPGRADE, "websocket"));
        // A token is matched whole, never as a substring.
        let h = headers(&[("upgrade", "websockets, xwebsocket")]);
        assert!(!token_list_contains(&h, header::UPGRADE, "websocket"));
        // Obs-text elsewhere in the value does not hide a token before it.
        let mut h = HeaderMap::new();
        h.insert(
            header::UPGRADE,
            HeaderValue::from_bytes(b"websocket, \xff").unwrap(),
        );
        assert!(token_list_contains(&h, header::UPGRADE, "websocket"));
    }

    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> (String, ExtensionParams) {
        (
            name.to_owned(),
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        )
    }

    #[test]
    fn extensions_chrome_offer() {
        let h = headers(&[(
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits",
        )]);
        assert_eq!(
            parse_extensions(&h),
            [ext(
                "permessage-deflate",
                &[("client_max_window_bits", None)]
            )]
        );
    }

    #[test]
    fn extensions_several_with_values_and_lines() {
        let h = headers(&[
            (
                "sec-websocket-extensions",
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits, \
                 permessage-deflate ;client_no_context_takeover",
            ),
            (
                "sec-websocket-extensions",
                "x-foo;a=\"quoted \\\"v\\\\\";b = 1",
            ),
        ]);
        assert_eq!(
            parse_extensions(&h),
            [
                ext(
                    "permessage-deflate",
                    &[
                        ("server_max_window_bits", Some("10")),
                        ("client_max_window_bits", None)
                    ]
                ),
                ext(
                    "permessage-deflate",
                    &[("client_no_context_takeover", None)]
                ),
                ext("x-foo", &[("a", Some("quoted \"v\\")), ("b", Some("1"))]),
            ]
        );
    }

    #[test]
    fn extensions_quoted_token_value() {
        let h = headers(&[(
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits=\"12\"",
        )]);
        assert_eq!(
            parse_extensions(&h),
            [ext(
                "permessage-deflate",
                &[("client_max_window_bits", Some("12"))]
            )]
        );
    }

    #[test]
    fn extensions_malformed_end_their_line_only() {
        let h = headers(&[
            ("sec-websocket-extensions", "good, bad;=1, lost"),
            ("sec-websocket-extensions", "a; p=, lost"),
            ("sec-websocket-extensions", "b; p=\"open, lost"),
            ("sec-websocket-extensions", "c d, lost"),
            ("sec-websocket-extensions", "d; p=1 2"),
            ("sec-websocket-extensions", ";nameless"),
            ("sec-websocket-extensions", "e,, f ,"),
        ]);
        assert_eq!(
            parse_extensions(&h),
            [ext("good", &[]), ext("e", &[]), ext("f", &[])]
        );
        assert!(parse_extensions(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn strict_extensions_refuse_any_malformed_line() {
        let good = headers(&[
            ("sec-websocket-extensions", "permessage-deflate; a=1"),
            ("sec-websocket-extensions", "x"),
        ]);
        assert_eq!(
            parse_extensions_strict(&good).unwrap(),
            [
                ext("permessage-deflate", &[("a", Some("1"))]),
                ext("x", &[])
            ]
        );
        assert_eq!(parse_extensions_strict(&HeaderMap::new()).unwrap(), []);
        for bad in ["good, bad;=1", "a; p=", "b; p=\"open", "c d", ";nameless"] {
            let h = headers(&[
                ("sec-websocket-extensions", "permessage-deflate"),
                ("sec-websocket-extensions", bad),
            ]);
            assert!(parse_extensions_strict(&h).is_none(), "{bad}");
        }
    }

    #[test]
    fn upgrade_detection() {
        let r = Request::get("/")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "WebSocket")
            .body(())
            .unwrap();
        assert!(is_websocket_upgrade(&r));
        let r = Request::get("/")
            .header("connection", "upgrade")
            .header("upgrade", "h2c")
            .body(())
            .unwrap();
        assert!(!is_websocket_upgrade(&r));
        let r = Request::get("/")
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(!is_websocket_upgrade(&r));
    }

    #[test]
    fn extended_connect_detection() {
        let r = Request::connect("https://example.com/chat")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        assert!(is_websocket_upgrade(&r));
        // A plain (tunnel) CONNECT has an authority-form target.
        let r = Request::connect("example.com:443")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        assert!(!is_websocket_upgrade(&r));
        // CONNECT over HTTP/1.1 is never a WebSocket.
        let r = Request::connect("https://example.com/chat")
            .version(Version::HTTP_11)
            .body(())
            .unwrap();
        assert!(!is_websocket_upgrade(&r));
    }

    #[test]
    fn subprotocol_offer() {
        let r = Request::get("/")
            .header("sec-websocket-protocol", " chat.v2 ,chat.v1,, ")
            .header("sec-websocket-protocol", "mqtt")
            .body(())
            .unwrap();
        assert_eq!(subprotocols(&r), ["chat.v2", "chat.v1", "mqtt"]);
        let r = Request::get("/").body(()).unwrap();
        assert!(subprotocols(&r).is_empty());
        let r = Request::get("/")
            .header("sec-websocket-protocol", "  ")
            .body(())
            .unwrap();
        assert!(subprotocols(&r).is_empty());
    }

    #[test]
    fn origin_hosts_like_go_url_parse() {
        let cases: &[(&str, Option<&str>)] = &[
            ("http://example.com", Some("example.com")),
            ("https://Example.COM:8443", Some("Example.COM:8443")),
            ("http://example.com/path?q#f", Some("example.com")),
            ("http://user:pw@example.com", Some("example.com")),
            ("http://[::1]:8080", Some("[::1]:8080")),
            ("http://127.0.0.1:80", Some("127.0.0.1:80")),
            ("chrome-extension://abcdef", Some("abcdef")),
            ("//example.com", Some("example.com")),
            ("null", Some("")),
            ("file:///etc/passwd", Some("")),
            ("http:opaque", Some("")),
            ("", Some("")),
            // url.Parse errors.
            ("http://example.com:port", None),
            ("http://[::1", None),
            ("http://exa mple.com", None),
            ("http://example.com\t", None),
            ("://example.com", None),
            ("example.com:8080", Some("")),
            ("a/b:c", Some("")),
            ("ex:am:ple", Some("")),
            ("1http://example.com", None),
            ("http://ex%41mple.com", None),
        ];
        for (origin, host) in cases {
            assert_eq!(origin_host(origin), *host, "{origin:?}");
        }
    }

    #[test]
    fn same_origin_policy() {
        let check = |origin: Option<&'static str>, host: Option<&str>| {
            let h = match origin {
                Some(o) => headers(&[("origin", o)]),
                None => HeaderMap::new(),
            };
            check_same_origin(&h, host)
        };
        // No Origin: not a browser, or a same-origin request from an old one.
        assert!(check(None, Some("example.com")));
        assert!(check(None, None));
        assert!(check(Some("http://example.com"), Some("example.com")));
        assert!(check(Some("https://EXAMPLE.com"), Some("example.COM")));
        assert!(check(
            Some("http://example.com:8080"),
            Some("Example.com:8080")
        ));
        // The port is part of the host.
        assert!(!check(Some("http://example.com:8080"), Some("example.com")));
        assert!(!check(Some("http://example.com"), Some("example.com:80")));
        assert!(!check(
            Some("http://example.com:8080"),
            Some("example.com:8081")
        ));
        assert!(!check(Some("http://evil.com"), Some("example.com")));
        assert!(!check(
            Some("http://example.com.evil.com"),
            Some("example.com")
        ));
        assert!(!check(Some("null"), Some("example.com")));
        assert!(!check(Some("http://exa mple.com"), Some("exa mple.com")));
        assert!(!check(Some("http://example.com"), None));
        // Only the first Origin line counts, as in Go.
        let h = headers(&[("origin", "http://a.com"), ("origin", "http://b.com")]);
        assert!(check_same_origin(&h, Some("a.com")));
        assert!(!check_same_origin(&h, Some("b.com")));
    }

    #[test]
    fn challenge_keys() {
        assert!(is_valid_challenge_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_challenge_key(b"AAAAAAAAAAAAAAAAAAAAAA=="));
        // Non-zero padding bits: Go's StdEncoding accepts them.
        assert!(is_valid_challenge_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        // 15 and 17 bytes.
        assert!(!is_valid_challenge_key(b"dGhlIHNhbXBsZSBub25j"));
        assert!(!is_valid_challenge_key(b"AAAAAAAAAAAAAAAAAAAA"));
        assert!(!is_valid_challenge_key(b"AAAAAAAAAAAAAAAAAAAAAAA="));
        // Padding is required; URL-safe alphabet and junk are not base64 here.
        assert!(!is_valid_challenge_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_challenge_key(b"dGhlIHNhbXBsZSBub25jZQ=x"));
        assert!(!is_valid_challenge_key(b"-_-_-_-_-_-_-_-_-_-_-_=="));
        assert!(!is_valid_challenge_key(b"dGhlIHNhbXBsZSBub25jZQ== "));
        assert!(!is_valid_challenge_key(b""));
    }

    #[test]
    fn accept_key_rfc6455_sample() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
