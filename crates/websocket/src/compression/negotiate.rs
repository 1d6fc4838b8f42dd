//! The permessage-deflate handshake (RFC 7692 section 7.1): the server picks the first
//! acceptable offer and answers it; the client builds its offer and checks the answer.
//!
//! The two sides read parameters with the same rules ([`read_params`]): the four parameters
//! of RFC 7692, each at most once, the `*_no_context_takeover` ones without a value and the
//! window bits as `8` to `15` written without leading zeros (a quoted value counts once
//! unquoted, as RFC 6455 9.1 allows). What differs is the reaction: a server declines a bad
//! offer and tries the next one, a client fails the handshake on a bad answer.

use http::{HeaderMap, HeaderValue};

use super::{CompressionOptions, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::{
    Error,
    conn::Role,
    handshake::{ExtensionParams, parse_extensions},
};

/// The extension's registered name.
pub(crate) const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// What both sides agreed to, plus this side's own compression settings: everything
/// [`Conn::new`](crate::Conn) needs to set up its deflater and inflater.
///
/// The `*_no_context_takeover` flags and window bits are the *effective* ones on this side:
/// a client that chose not to keep its context has `client_no_context_takeover` set even when
/// the server did not ask for it. A side only ever narrows its own sending parameters beyond
/// what was agreed, which the peer's inflater cannot notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// The server resets its deflater after every message.
    pub(crate) server_no_context_takeover: bool,
    /// The client resets its deflater after every message.
    pub(crate) client_no_context_takeover: bool,
    /// The largest LZ77 window (log2) the server compresses with.
    pub(crate) server_max_window_bits: u8,
    /// The largest LZ77 window (log2) the client compresses with.
    pub(crate) client_max_window_bits: u8,
    /// This side's compression level (see [`CompressionOptions::level`]).
    pub(crate) level: i32,
    /// This side's size threshold (see [`CompressionOptions::threshold`]).
    pub(crate) threshold: usize,
}

/// How one direction of the connection compresses: the sender's deflater and the receiver's
/// inflater of that direction are built from the same `Direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Direction {
    /// Reset the (de)compression state after every message.
    pub(crate) no_context_takeover: bool,
    /// The LZ77 window, log2.
    pub(crate) window_bits: u8,
}

impl Negotiated {
    /// The direction this side sends in.
    pub(crate) fn sending(&self, role: Role) -> Direction {
        match role {
            Role::Server => self.server_direction(),
            Role::Client => self.client_direction(),
        }
    }

    /// The direction this side receives in.
    pub(crate) fn receiving(&self, role: Role) -> Direction {
        match role {
            Role::Server => self.client_direction(),
            Role::Client => self.server_direction(),
        }
    }

    fn server_direction(&self) -> Direction {
        Direction {
            no_context_takeover: self.server_no_context_takeover,
            window_bits: self.server_max_window_bits,
        }
    }

    fn client_direction(&self) -> Direction {
        Direction {
            no_context_takeover: self.client_no_context_takeover,
            window_bits: self.client_max_window_bits,
        }
    }
}

/// The parameters of one offer or answer, read and checked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub(crate) server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` present: `Some(None)` without a value, `Some(Some(N))` with one.
    pub(crate) client_max_window_bits: Option<Option<u8>>,
}

/// Why a parameter list is not acceptable.
pub(crate) type Refusal = &'static str;

/// Reads one extension's parameters with RFC 7692's rules (section 7 and 7.1): unknown,
/// duplicated and ill-valued parameters are refused. `client_max_window_bits` may lack a
/// value only in an offer (`offer == true`); `server_max_window_bits` always needs one.
pub(crate) fn read_params(params: &ExtensionParams, offer: bool) -> Result<Params, Refusal> {
    let mut p = Params::default();
    let mut seen = [false; 4];
    for (name, value) in params {
        let slot = match name.as_str() {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return Err("unknown permessage-deflate parameter"),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err("duplicate permessage-deflate parameter");
        }
        match slot {
            0 | 1 => {
                if value.is_some() {
                    return Err("a no_context_takeover parameter has a value");
                }
                if slot == 0 {
                    p.server_no_context_takeover = true;
                } else {
                    p.client_no_context_takeover = true;
                }
            }
            2 => {
                let Some(value) = value else {
                    return Err("server_max_window_bits without a value");
                };
                p.server_max_window_bits = Some(window_bits(value)?);
            }
            _ => {
                p.client_max_window_bits = Some(match value {
                    Some(value) => Some(window_bits(value)?),
                    None if offer => None,
                    None => return Err("client_max_window_bits without a value"),
                });
            }
        }
    }
    Ok(p)
}

/// `1*DIGIT` without leading zeros, 8 to 15 (RFC 7692 7.1.2.1).
fn window_bits(value: &str) -> Result<u8, Refusal> {
    let valid =
        !value.is_empty() && !value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u8>() {
        Ok(bits) if valid && (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits) => Ok(bits),
        _ => Err("invalid window bits"),
    }
}

/// A window-bits option as this side may use it: clamped into 8..=15.
fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
}

/// The server's choice: the first `permessage-deflate` offer in `request_headers` that is
/// well formed and acceptable, with the `Sec-WebSocket-Extensions` value to answer it.
/// `None` when there is none: the connection then runs uncompressed. Never an error: a bad
/// offer is declined, not a reason to fail the handshake (RFC 7692 section 5).
pub(crate) fn server_negotiate(
    request_headers: &HeaderMap,
    options: &CompressionOptions,
) -> Option<(Negotiated, HeaderValue)> {
    parse_extensions(request_headers)
        .iter()
        .filter(|(name, _)| name == PERMESSAGE_DEFLATE)
        .find_map(|(_, params)| accept_offer(params, options))
}

/// Answers one offer, or declines it (`None`).
pub(crate) fn accept_offer(
    params: &ExtensionParams,
    options: &CompressionOptions,
) -> Option<(Negotiated, HeaderValue)> {
    let offer = read_params(params, true).ok()?;

    // Our sending window: what we allow ourselves, narrowed to what the client asked for.
    // It has to be announced when the client asked (7.1.2.1) or when it is below the default.
    let own_bits = clamp_bits(options.server_max_window_bits);
    let server_bits = offer
        .server_max_window_bits
        .map_or(own_bits, |asked| asked.min(own_bits));
    let announce_server_bits =
        offer.server_max_window_bits.is_some() || server_bits < MAX_WINDOW_BITS;

    // The client's window may only be limited when the offer says the client supports that
    // (7.1.2.2), and never above the value it offered.
    let client_bits = match offer.client_max_window_bits {
        None => MAX_WINDOW_BITS,
        Some(offered) => {
            clamp_bits(options.client_max_window_bits).min(offered.unwrap_or(MAX_WINDOW_BITS))
        }
    };
    let announce_client_bits = client_bits < MAX_WINDOW_BITS;

    // A client's request for no server context must be honoured to accept the offer; its
    // hint that it can drop its own context is taken, since it lets us drop our inflater's
    // state between messages.
    let server_nct = offer.server_no_context_takeover || !options.server_context_takeover;
    let client_nct = offer.client_no_context_takeover || !options.client_context_takeover;

    let mut answer = String::from(PERMESSAGE_DEFLATE);
    if server_nct {
        answer.push_str("; server_no_context_takeover");
    }
    if client_nct {
        answer.push_str("; client_no_context_takeover");
    }
    if announce_server_bits {
        answer.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    if announce_client_bits {
        answer.push_str(&format!("; client_max_window_bits={client_bits}"));
    }
    let answer = HeaderValue::try_from(answer).expect("ASCII tokens are a valid header value");
    Some((
        Negotiated {
            server_no_context_takeover: server_nct,
            client_no_context_takeover: client_nct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
            level: options.level,
            threshold: options.threshold,
        },
        answer,
    ))
}

/// The `Sec-WebSocket-Extensions` value a client sends to offer permessage-deflate with
/// `options`.
///
/// It always includes `client_max_window_bits` (every window size is supported here), with
/// the option's value when that is below 15. `server_no_context_takeover` and
/// `server_max_window_bits` ask the server for less memory use; `client_no_context_takeover`
/// tells it that this client will not keep its context.
pub(crate) fn client_offer(options: &CompressionOptions) -> HeaderValue {
    let mut offer = String::from(PERMESSAGE_DEFLATE);
    if !options.server_context_takeover {
        offer.push_str("; server_no_context_takeover");
    }
    if !options.client_context_takeover {
        offer.push_str("; client_no_context_takeover");
    }
    let server_bits = clamp_bits(options.server_max_window_bits);
    if server_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    let client_bits = clamp_bits(options.client_max_window_bits);
    if client_bits < MAX_WINDOW_BITS {
        offer.push_str(&format!("; client_max_window_bits={client_bits}"));
    } else {
        offer.push_str("; client_max_window_bits");
    }
    HeaderValue::try_from(offer).expect("ASCII tokens are a valid header value")
}

/// Checks the server's `Sec-WebSocket-Extensions` answer to [`client_offer`]`(options)`.
///
/// `Ok(None)`: the server declined compression (no extension in the answer). `Ok(Some)`:
/// the agreed parameters. An error ([`Error::is_handshake`]) for an answer the client must
/// fail the connection over (RFC 6455 4.1, RFC 7692 7.1): a malformed header, an extension
/// that was not offered, more than one, or parameters that are unknown, duplicated,
/// ill-valued, or window bits above what was offered. A request the server did not grant
/// (`server_no_context_takeover`, a smaller server window) is not a failure: the inflater
/// here decodes any window and keeps its context unless allowed to drop it.
pub(crate) fn client_accept(
    response_headers: &HeaderMap,
    options: &CompressionOptions,
) -> Result<Option<Negotiated>, Error> {
    let fail = |reason: &str| Err(Error::bad_handshake(reason.to_owned()));
    let Some(extensions) = crate::handshake::parse_extensions_strict(response_headers) else {
        return fail("malformed Sec-WebSocket-Extensions header");
    };
    let params = match extensions.as_slice() {
        [] => return Ok(None),
        [(name, params)] if name == PERMESSAGE_DEFLATE => params,
        [_] => return fail("the server answered with an extension that was not offered"),
        _ => return fail("the server answered with more than one extension"),
    };
    let answer = match read_params(params, false) {
        Ok(answer) => answer,
        Err(reason) => return fail(&format!("permessage-deflate answer: {reason}")),
    };
    // What was asked of the server but not granted is accepted: the inflater here decodes
    // any window and keeps its context unless told it may drop it, so only answers that
    // break the rules themselves fail.
    let asked_server_bits = clamp_bits(options.server_max_window_bits);
    let server_bits = match answer.server_max_window_bits {
        Some(bits) if asked_server_bits < MAX_WINDOW_BITS && bits > asked_server_bits => {
            return fail("permessage-deflate answer: server_max_window_bits above the offer");
        }
        Some(bits) => bits,
        None => MAX_WINDOW_BITS,
    };
    let offered_client_bits = clamp_bits(options.client_max_window_bits);
    let client_bits = match answer.client_max_window_bits {
        Some(Some(bits)) if bits > offered_client_bits => {
            return fail("permessage-deflate answer: client_max_window_bits above the offer");
        }
        Some(Some(bits)) => bits,
        // `read_params` refuses a valueless client_max_window_bits in an answer.
        Some(None) | None => offered_client_bits,
    };
    Ok(Some(Negotiated {
        server_no_context_takeover: answer.server_no_context_takeover,
        client_no_context_takeover: answer.client_no_context_takeover
            || !options.client_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        level: options.level,
        threshold: options.threshold,
    }))
}
