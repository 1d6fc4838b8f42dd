//! Unit tests of the permessage-deflate negotiation (both sides) and of the deflate streams.
//! Tests of compressed connections against an independent implementation live in
//! `conn/deflate_tests.rs`.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use http::{HeaderMap, HeaderValue};

use super::deflate::Chunk;
use super::*;
use crate::conn::Role;

fn request(offers: &[&'static str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for offer in offers {
        h.append("sec-websocket-extensions", HeaderValue::from_static(offer));
    }
    h
}

/// The server's answer to `offers` with `options`, as text.
fn answer_with(options: &CompressionOptions, offers: &[&'static str]) -> Option<String> {
    server_negotiate(&request(offers), options).map(|(_, v)| v.to_str().unwrap().to_owned())
}

fn answer(offer: &'static str) -> Option<String> {
    answer_with(&CompressionOptions::default(), &[offer])
}

fn negotiated(offer: &'static str) -> Negotiated {
    server_negotiate(&request(&[offer]), &CompressionOptions::default())
        .expect("offer accepted")
        .0
}

#[test]
fn server_accepts_each_parameter() {
    assert_eq!(answer("permessage-deflate").unwrap(), "permessage-deflate");
    let n = negotiated("permessage-deflate");
    assert_eq!(
        (n.server_no_context_takeover, n.client_no_context_takeover),
        (false, false)
    );
    assert_eq!(
        (n.server_max_window_bits, n.client_max_window_bits),
        (15, 15)
    );
    assert_eq!((n.level, n.threshold), (1, 64));

    assert_eq!(
        answer("permessage-deflate; server_no_context_takeover").unwrap(),
        "permessage-deflate; server_no_context_takeover"
    );
    assert!(
        negotiated("permessage-deflate; server_no_context_takeover").server_no_context_takeover
    );
    assert_eq!(
        answer("permessage-deflate; client_no_context_takeover").unwrap(),
        "permessage-deflate; client_no_context_takeover"
    );
    assert!(
        negotiated("permessage-deflate; client_no_context_takeover").client_no_context_takeover
    );
    // A server window asked for must be answered, with that value or less.
    assert_eq!(
        answer("permessage-deflate; server_max_window_bits=10").unwrap(),
        "permessage-deflate; server_max_window_bits=10"
    );
    assert_eq!(
        negotiated("permessage-deflate; server_max_window_bits=10").server_max_window_bits,
        10
    );
    assert_eq!(
        answer("permessage-deflate; server_max_window_bits=15").unwrap(),
        "permessage-deflate; server_max_window_bits=15"
    );
    // client_max_window_bits without a value: "you may limit me"; the default server does
    // not. With a value: the client will use at most that, which the server may echo.
    assert_eq!(
        answer("permessage-deflate; client_max_window_bits").unwrap(),
        "permessage-deflate"
    );
    assert_eq!(
        negotiated("permessage-deflate; client_max_window_bits").client_max_window_bits,
        15
    );
    assert_eq!(
        answer("permessage-deflate; client_max_window_bits=12").unwrap(),
        "permessage-deflate; client_max_window_bits=12"
    );
    assert_eq!(
        negotiated("permessage-deflate; client_max_window_bits=12").client_max_window_bits,
        12
    );
    // A quoted value is read unquoted (RFC 6455 9.1).
    assert_eq!(
        answer("permessage-deflate; server_max_window_bits=\"9\"").unwrap(),
        "permessage-deflate; server_max_window_bits=9"
    );
    // Everything at once, in any order.
    assert_eq!(
        answer(
            "permessage-deflate; client_max_window_bits=9; server_max_window_bits=11; \
             client_no_context_takeover; server_no_context_takeover"
        )
        .unwrap(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=11; client_max_window_bits=9"
    );
}

#[test]
fn server_declines_malformed_and_duplicate_parameters() {
    for offer in [
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"\"",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=+9",
        "permessage-deflate; server_max_window_bits=9a",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=99999999999",
        "permessage-deflate; client_max_window_bits=\"1 0\"",
        "permessage-deflate; unknown_parameter",
        "permessage-deflate; Server_No_Context_Takeover",
        // Malformed syntax: the parser drops the extension, so nothing is answered.
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; =10",
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(answer(offer), None, "{offer}");
    }
}

#[test]
fn server_tries_the_next_offer() {
    let options = CompressionOptions::default();
    // A bad offer first, then a good one on the same line or the next.
    assert_eq!(
        answer_with(
            &options,
            &["permessage-deflate; server_max_window_bits=5, permessage-deflate; client_max_window_bits"]
        )
        .unwrap(),
        "permessage-deflate"
    );
    assert_eq!(
        answer_with(
            &options,
            &[
                "x-foo, permessage-deflate; bad",
                "permessage-deflate; server_max_window_bits=12"
            ]
        )
        .unwrap(),
        "permessage-deflate; server_max_window_bits=12"
    );
    // The first acceptable offer wins (Autobahn 13.7's list).
    assert_eq!(
        answer_with(
            &options,
            &[
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9, \
               permessage-deflate; server_no_context_takeover, permessage-deflate"
            ]
        )
        .unwrap(),
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=9"
    );
}

#[test]
fn server_options_shape_the_answer() {
    let frugal = CompressionOptions::no_context_takeover();
    assert_eq!(
        answer_with(&frugal, &["permessage-deflate"]).unwrap(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    let small = CompressionOptions {
        server_max_window_bits: 10,
        client_max_window_bits: 11,
        ..CompressionOptions::default()
    };
    // Our own window is announced even unasked; the client's only when it allows that.
    assert_eq!(
        answer_with(&small, &["permessage-deflate"]).unwrap(),
        "permessage-deflate; server_max_window_bits=10"
    );
    assert_eq!(
        answer_with(&small, &["permessage-deflate; client_max_window_bits"]).unwrap(),
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11"
    );
    // Never above what the client offered or asked for.
    assert_eq!(
        answer_with(
            &small,
            &["permessage-deflate; server_max_window_bits=9; client_max_window_bits=9"]
        )
        .unwrap(),
        "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9"
    );
    // Out-of-range options are clamped into 8..=15.
    let clamped = CompressionOptions {
        server_max_window_bits: 3,
        client_max_window_bits: 200,
        ..CompressionOptions::default()
    };
    assert_eq!(
        answer_with(&clamped, &["permessage-deflate; client_max_window_bits"]).unwrap(),
        "permessage-deflate; server_max_window_bits=8"
    );
}

#[test]
fn window_bits_8_is_accepted_and_sent_uncompressed() {
    let n = negotiated("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8");
    assert_eq!((n.server_max_window_bits, n.client_max_window_bits), (8, 8));
    // The server must not compress into a 256-byte window, which zlib cannot do: it sends
    // uncompressed. It still inflates what the client sends, with a 9-bit window.
    assert!(Deflater::new(n.sending(Role::Server)).is_none());
    let mut inflater = Inflater::new(n.receiving(Role::Server));
    let mut deflater = Deflater::new(Direction {
        no_context_takeover: false,
        window_bits: 9,
    })
    .unwrap();
    let mut wire = Vec::new();
    deflater
        .compress(
            b"hello hello hello",
            &mut wire,
            Compression::fast(),
            Chunk::End,
        )
        .unwrap();
    assert_eq!(inflate_all(&mut inflater, &wire), b"hello hello hello");
}

#[test]
fn negotiated_directions_follow_the_role() {
    let n = negotiated(
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
         client_max_window_bits=12",
    );
    let server = Direction {
        no_context_takeover: true,
        window_bits: 10,
    };
    let client = Direction {
        no_context_takeover: false,
        window_bits: 12,
    };
    assert_eq!(n.sending(Role::Server), server);
    assert_eq!(n.receiving(Role::Client), server);
    assert_eq!(n.sending(Role::Client), client);
    assert_eq!(n.receiving(Role::Server), client);
}

fn response(value: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.append("sec-websocket-extensions", HeaderValue::from_static(value));
    h
}

#[test]
fn client_offers() {
    let offer = |o: &CompressionOptions| client_offer(o).to_str().unwrap().to_owned();
    assert_eq!(
        offer(&CompressionOptions::default()),
        "permessage-deflate; client_max_window_bits"
    );
    assert_eq!(
        offer(&CompressionOptions::no_context_takeover()),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         client_max_window_bits"
    );
    assert_eq!(
        offer(&CompressionOptions {
            server_max_window_bits: 10,
            client_max_window_bits: 12,
            ..CompressionOptions::default()
        }),
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"
    );
    // Every offer is one the server side accepts.
    for options in [
        CompressionOptions::default(),
        CompressionOptions::no_context_takeover(),
        CompressionOptions {
            server_max_window_bits: 8,
            client_max_window_bits: 9,
            ..CompressionOptions::default()
        },
    ] {
        let mut h = HeaderMap::new();
        h.insert("sec-websocket-extensions", client_offer(&options));
        assert!(server_negotiate(&h, &CompressionOptions::default()).is_some());
    }
}

#[test]
fn client_accepts_valid_answers() {
    let options = CompressionOptions::default();
    assert_eq!(client_accept(&HeaderMap::new(), &options).unwrap(), None);
    let n = client_accept(&response("permessage-deflate"), &options)
        .unwrap()
        .unwrap();
    assert_eq!(n, negotiated("permessage-deflate"));
    let n = client_accept(
        &response(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=9; client_max_window_bits=10",
        ),
        &options,
    )
    .unwrap()
    .unwrap();
    assert!(n.server_no_context_takeover && n.client_no_context_takeover);
    assert_eq!(
        (n.server_max_window_bits, n.client_max_window_bits),
        (9, 10)
    );
    // The client narrows its own sending side as its options say, whatever the answer.
    let frugal = CompressionOptions {
        client_context_takeover: false,
        client_max_window_bits: 11,
        ..CompressionOptions::default()
    };
    let n = client_accept(&response("permessage-deflate"), &frugal)
        .unwrap()
        .unwrap();
    assert!(n.client_no_context_takeover && !n.server_no_context_takeover);
    assert_eq!(n.client_max_window_bits, 11);
    // A request the server did not grant is no failure: the inflater copes.
    let asking = CompressionOptions {
        server_context_takeover: false,
        server_max_window_bits: 10,
        ..CompressionOptions::default()
    };
    let n = client_accept(&response("permessage-deflate"), &asking)
        .unwrap()
        .unwrap();
    assert!(!n.server_no_context_takeover);
    assert_eq!(n.server_max_window_bits, 15);
}

#[test]
fn client_fails_on_bad_answers() {
    let options = CompressionOptions {
        server_max_window_bits: 10,
        client_max_window_bits: 12,
        ..CompressionOptions::default()
    };
    for bad in [
        "x-foo",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; unknown",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover=1",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=13",
        "permessage-deflate; server_max_window_bits=11",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=09",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; =",
    ] {
        let err = client_accept(&response(bad), &options).expect_err(bad);
        assert!(err.is_handshake(), "{bad}: {err}");
    }
    // Two header lines are two extensions.
    let mut h = response("permessage-deflate");
    h.append(
        "sec-websocket-extensions",
        HeaderValue::from_static("permessage-deflate"),
    );
    assert!(client_accept(&h, &options).is_err());
}

#[test]
fn offer_answer_round_trips_agree() {
    let variants = [
        CompressionOptions::default(),
        CompressionOptions::no_context_takeover(),
        CompressionOptions {
            server_max_window_bits: 9,
            client_max_window_bits: 10,
            ..CompressionOptions::default()
        },
        CompressionOptions {
            server_context_takeover: false,
            client_max_window_bits: 8,
            ..CompressionOptions::default()
        },
        CompressionOptions {
            client_context_takeover: false,
            server_max_window_bits: 12,
            ..CompressionOptions::default()
        },
    ];
    for client in &variants {
        for server in &variants {
            let mut h = HeaderMap::new();
            h.insert("sec-websocket-extensions", client_offer(client));
            let (on_server, answer) = server_negotiate(&h, server).expect("accepted");
            let mut r = HeaderMap::new();
            r.insert("sec-websocket-extensions", answer);
            let on_client = client_accept(&r, client).unwrap().expect("agreed");
            // What the server sends, the client expects, exactly.
            assert_eq!(
                on_server.sending(Role::Server),
                on_client.receiving(Role::Client),
                "{client:?} / {server:?}"
            );
            // What the client sends is within what the server expects: the client may
            // narrow its own side further, never widen it.
            let sent = on_client.sending(Role::Client);
            let expected = on_server.receiving(Role::Server);
            assert!(sent.window_bits <= expected.window_bits);
            assert!(sent.no_context_takeover || !expected.no_context_takeover);
        }
    }
}

/// Inflates one compressed message (trailer appended) with our inflater.
fn inflate_all(inflater: &mut Inflater, wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut input: Vec<u8> = wire.to_vec();
    input.extend_from_slice(&TRAILER);
    let mut pos = 0;
    loop {
        out.reserve(1024);
        let (used, _) = inflater.inflate_vec(&input[pos..], &mut out).unwrap();
        pos += used;
        if pos == input.len() && out.len() < out.capacity() {
            break;
        }
    }
    inflater.end_message();
    out
}

#[test]
fn flate2_raw_deflate_with_small_windows() {
    // The brief's check: zlib-rs gives raw deflate (no header) for every window from 9 to
    // 15, and our trailer handling matches a plain flate2 raw inflater.
    let text = b"{\"type\":\"chat\",\"user\":\"alice\",\"text\":\"hello hello hello\"}".repeat(40);
    for bits in 9..=15u8 {
        let mut c = Compress::new_with_window_bits(Compression::default(), false, bits);
        let mut wire = Vec::with_capacity(4096);
        c.compress_vec(&text, &mut wire, FlushCompress::Sync)
            .unwrap();
        assert!(wire.ends_with(&TRAILER), "bits {bits}");
        // Raw: no zlib header (0x78 ..).
        assert_ne!(wire[0], 0x78, "bits {bits}");
        let mut d = Decompress::new_with_window_bits(false, bits);
        let mut out = Vec::with_capacity(text.len() + 16);
        d.decompress_vec(&wire, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(out, text, "bits {bits}");
    }
}

#[test]
fn deflater_strips_the_trailer_and_inflater_restores_it() {
    for bits in 9..=15u8 {
        for no_context_takeover in [false, true] {
            let direction = Direction {
                no_context_takeover,
                window_bits: bits,
            };
            let mut deflater = Deflater::new(direction).unwrap();
            let mut inflater = Inflater::new(direction);
            for i in 0..5 {
                let message = format!("message {i}: {}", "abcdefgh".repeat(i * 50));
                let mut wire = Vec::new();
                deflater
                    .compress(
                        message.as_bytes(),
                        &mut wire,
                        Compression::new(6),
                        Chunk::End,
                    )
                    .unwrap();
                assert!(!wire.ends_with(&TRAILER));
                // An independent raw inflater reads it too (fresh, so only context-free
                // messages, or the first one).
                if no_context_takeover || i == 0 {
                    let mut d = Decompress::new(false);
                    let mut out = Vec::with_capacity(message.len() + 64);
                    let mut input = wire.clone();
                    input.extend_from_slice(&TRAILER);
                    d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
                        .unwrap();
                    assert_eq!(out, message.as_bytes());
                }
                assert_eq!(inflate_all(&mut inflater, &wire), message.as_bytes());
            }
        }
    }
}

#[test]
fn empty_message_compresses_to_one_byte() {
    // RFC 7692 7.2.3.6.
    let mut deflater = Deflater::new(Direction {
        no_context_takeover: true,
        window_bits: 15,
    })
    .unwrap();
    let mut wire = Vec::new();
    deflater
        .compress(b"", &mut wire, Compression::fast(), Chunk::End)
        .unwrap();
    assert_eq!(wire, [0x00]);
}

#[test]
fn context_takeover_shrinks_repeated_messages() {
    let message = b"{\"type\":\"presence\",\"user\":\"bob\",\"status\":\"online\",\"since\":12345}";
    let sizes = |no_context_takeover| {
        let mut deflater = Deflater::new(Direction {
            no_context_takeover,
            window_bits: 15,
        })
        .unwrap();
        (0..3)
            .map(|_| {
                let mut wire = Vec::new();
                deflater
                    .compress(message, &mut wire, Compression::fast(), Chunk::End)
                    .unwrap();
                wire.len()
            })
            .collect::<Vec<_>>()
    };
    let with = sizes(false);
    let without = sizes(true);
    assert_eq!(without[0], without[2], "no context: every message alike");
    assert_eq!(with[0], without[0], "the first message has no history");
    assert!(
        with[1] < with[0] / 3,
        "a repeat is a back-reference: {with:?}"
    );
}

#[test]
fn pooled_state_is_released_between_messages() {
    let direction = Direction {
        no_context_takeover: true,
        window_bits: 13,
    };
    let mut deflater = Deflater::new(direction).unwrap();
    let mut wire = Vec::new();
    deflater
        .compress(b"part one ", &mut wire, Compression::fast(), Chunk::More)
        .unwrap();
    assert!(deflater.holds_state(), "held for the message");
    deflater
        .compress(b"part two", &mut wire, Compression::fast(), Chunk::End)
        .unwrap();
    assert!(!deflater.holds_state(), "pooled after it");
    let mut inflater = Inflater::new(direction);
    assert_eq!(inflate_all(&mut inflater, &wire), b"part one part two");
    assert!(!inflater.holds_state());
    // With context takeover the state stays.
    let mut keeping = Deflater::new(Direction {
        no_context_takeover: false,
        window_bits: 13,
    })
    .unwrap();
    keeping
        .compress(b"x", &mut Vec::new(), Compression::fast(), Chunk::End)
        .unwrap();
    assert!(keeping.holds_state());
}

#[test]
fn levels() {
    assert_eq!(flate_level(-1), Some(Compression::new(6)));
    assert_eq!(flate_level(0), Some(Compression::none()));
    assert_eq!(flate_level(9), Some(Compression::best()));
    assert_eq!(flate_level(-2), None, "Huffman-only is not available");
    assert_eq!(flate_level(10), None);
    // Level 0 still produces a valid deflate stream (stored blocks).
    let mut deflater = Deflater::new(Direction {
        no_context_takeover: false,
        window_bits: 15,
    })
    .unwrap();
    let mut inflater = Inflater::new(Direction {
        no_context_takeover: false,
        window_bits: 15,
    });
    for level in [0, 9, 1] {
        let mut wire = Vec::new();
        deflater
            .compress(
                b"aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                &mut wire,
                Compression::new(level),
                Chunk::End,
            )
            .unwrap();
        assert_eq!(
            inflate_all(&mut inflater, &wire),
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        );
    }
}

#[test]
fn corrupt_input_is_invalid_payload_data() {
    let mut inflater = Inflater::new(Direction {
        no_context_takeover: false,
        window_bits: 15,
    });
    let mut out = Vec::with_capacity(64);
    // BTYPE 11 is reserved.
    let err = inflater
        .inflate_vec(&[0xff, 0xff, 0xff], &mut out)
        .unwrap_err();
    assert_eq!(
        err.close_code(),
        Some(crate::CloseCode::INVALID_FRAME_PAYLOAD_DATA)
    );
}
