//! Compressed connections (permessage-deflate) against yawc, an independent RFC 7692
//! implementation, and against hand-made frames; prepared messages; the write buffer pool.
//!
//! Each pair is set up as a handshake would: the offer goes through our negotiation (server
//! side, and client side for our client role), and yawc is given the agreed
//! `Sec-WebSocket-Extensions` value, which it follows to the letter (context takeover and
//! window bits per direction). A side that got its context handling wrong would fail to
//! decode the other's second message.

use std::{
    pin::Pin,
    sync::{
        Arc, Mutex as StdMutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, FlushCompress};
use futures_util::SinkExt;
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use yawc::{Frame, OpCode as YawcOpCode, Options, WebSocket};

use super::*;
use crate::{
    CompressionOptions, PreparedMessage,
    compression::{self, TRAILER, client_accept, server_negotiate},
    frame::{parse_header, write_header},
    mask::apply_mask,
};

const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

/// Counts the bytes that pass through a stream, each direction.
struct Counting<S> {
    io: S,
    read: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r {
            self.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

type Peer = WebSocket<Counting<DuplexStream>>;

/// One side of a test: our connection, its yawc peer, and the bytes the peer read (what we
/// wrote) and wrote (what we read).
struct Pair {
    conn: Conn,
    peer: Peer,
    we_wrote: Arc<AtomicU64>,
    we_read: Arc<AtomicU64>,
}

fn config(
    role: Role,
    compression: Option<Negotiated>,
    pool: Option<Arc<dyn BufferPool>>,
) -> ConnConfig {
    ConnConfig {
        role,
        subprotocol: String::new(),
        read_buffer_size: 0,
        write_buffer_size: 0,
        write_buffer_pool: pool,
        local_addr: None,
        remote_addr: None,
        compression,
    }
}

/// Runs the negotiation for a client offering `client` to a server with `server` options,
/// returning what each side agreed to and the answer header.
fn negotiate(
    client: &CompressionOptions,
    server: &CompressionOptions,
) -> (Negotiated, Negotiated, String) {
    let mut request = HeaderMap::new();
    request.insert(
        "sec-websocket-extensions",
        compression::client_offer(client),
    );
    let (on_server, answer) = server_negotiate(&request, server).expect("offer accepted");
    let mut response = HeaderMap::new();
    response.insert("sec-websocket-extensions", answer.clone());
    let on_client = client_accept(&response, client).unwrap().expect("agreed");
    (on_server, on_client, answer.to_str().unwrap().to_owned())
}

fn yawc_options() -> Options {
    Options::default()
        .with_balanced_compression()
        .with_max_payload_read(64 << 20)
        .with_max_read_buffer(128 << 20)
}

/// Our connection in `role` and a yawc peer, compressing as `client` and `server` agree
/// (`None`: no compression).
fn pair(
    role: Role,
    options: Option<(&CompressionOptions, &CompressionOptions)>,
    pool: Option<Arc<dyn BufferPool>>,
) -> Pair {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let we_wrote = Arc::new(AtomicU64::new(0));
    let we_read = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        io: theirs,
        read: we_wrote.clone(),
        written: we_read.clone(),
    };
    let (negotiated, answer) = match options {
        None => (None, None),
        Some((client, server)) => {
            let (on_server, on_client, answer) = negotiate(client, server);
            let ours = if role == Role::Server {
                on_server
            } else {
                on_client
            };
            (Some(ours), Some(answer))
        }
    };
    let peer_role = match role {
        Role::Server => yawc::Role::Client,
        Role::Client => yawc::Role::Server,
    };
    let peer = WebSocket::from_stream_with_extensions(
        counting,
        peer_role,
        answer.as_deref(),
        yawc_options(),
    )
    .unwrap();
    let conn = Conn::new(Hijacked::new(ours), config(role, negotiated, pool));
    Pair {
        conn,
        peer,
        we_wrote,
        we_read,
    }
}

/// The next data message the peer receives.
async fn peer_recv(peer: &mut Peer) -> (YawcOpCode, Bytes) {
    loop {
        let frame = within(peer.next_frame()).await.expect("peer read");
        match frame.opcode() {
            YawcOpCode::Text | YawcOpCode::Binary => {
                let opcode = frame.opcode();
                return (opcode, frame.into_payload());
            }
            _ => continue,
        }
    }
}

/// Chat-like JSON, about 200 bytes, varied but with the repetition real traffic has.
fn chat_message(i: usize) -> String {
    const USERS: [&str; 7] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
    const ROOMS: [&str; 3] = ["general", "random", "rust-lang"];
    const WORDS: [&str; 16] = [
        "hello", "the", "build", "is", "green", "again", "anyone", "seen", "my", "pull", "request",
        "lunch", "deploy", "friday", "thanks", "cheers",
    ];
    let mut x = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |n: usize| {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        x ^= x >> 29;
        (x % n as u64) as usize
    };
    let text: Vec<&str> = (0..8 + next(8)).map(|_| WORDS[next(WORDS.len())]).collect();
    format!(
        "{{\"type\":\"message\",\"id\":{},\"room\":\"{}\",\"user\":{{\"name\":\"{}\",\"avatar\":\"https://cdn.example.com/a/{}.png\"}},\"ts\":{},\"text\":\"{}\"}}",
        100_000 + i,
        ROOMS[next(ROOMS.len())],
        USERS[next(USERS.len())],
        next(1000),
        1_700_000_000 + i * 7,
        text.join(" ")
    )
}

fn option_variants() -> Vec<(&'static str, CompressionOptions, CompressionOptions)> {
    let default = CompressionOptions::default();
    let none = CompressionOptions::no_context_takeover();
    vec![
        ("context takeover both ways", default, default),
        ("no context takeover (gorilla)", default, none),
        (
            "client asks server not to keep context",
            CompressionOptions {
                server_context_takeover: false,
                ..default
            },
            default,
        ),
        (
            "client keeps none of its own",
            CompressionOptions {
                client_context_takeover: false,
                ..default
            },
            default,
        ),
        (
            "small windows",
            CompressionOptions {
                server_max_window_bits: 10,
                ..default
            },
            CompressionOptions {
                client_max_window_bits: 9,
                ..default
            },
        ),
    ]
}

#[tokio::test]
async fn compressed_echo_against_yawc_in_both_roles() {
    for role in [Role::Server, Role::Client] {
        for (name, client, server) in option_variants() {
            let mut p = pair(role, Some((&client, &server)), None);
            let messages: Vec<String> = (0..40).map(chat_message).collect();
            let raw: usize = messages.iter().map(String::len).sum();
            // Peer to us: every message must inflate with the right context.
            for m in &messages {
                within(p.peer.send(Frame::text(m.clone()))).await.unwrap();
                let (t, data) = within(p.conn.read_message()).await.unwrap();
                assert_eq!(t, MessageType::Text, "{name}");
                assert_eq!(data, m.as_bytes(), "{role:?} {name}");
            }
            // Us to peer, through write_message and next_writer alternately.
            for (i, m) in messages.iter().enumerate() {
                if i % 2 == 0 {
                    p.conn
                        .write_message(MessageType::Text, m.as_bytes())
                        .await
                        .unwrap();
                } else {
                    let mut w = p.conn.next_writer(MessageType::Text).await.unwrap();
                    let (a, b) = m.as_bytes().split_at(m.len() / 2);
                    w.write_all(a).await.unwrap();
                    w.write_all(b).await.unwrap();
                    w.shutdown().await.unwrap();
                }
                let (t, data) = peer_recv(&mut p.peer).await;
                assert_eq!(t, YawcOpCode::Text);
                assert_eq!(data, m.as_bytes(), "{role:?} {name} #{i}");
            }
            // Both directions were really compressed: uncompressed, the payloads alone
            // would be `raw` bytes, before any header.
            let (wrote, read) = (
                p.we_wrote.load(Ordering::Relaxed) as usize,
                p.we_read.load(Ordering::Relaxed) as usize,
            );
            assert!(wrote < raw, "{role:?} {name}: we wrote {wrote} for {raw}");
            assert!(read < raw, "{role:?} {name}: we read {read} for {raw}");
        }
    }
}

#[tokio::test]
async fn large_fragmented_compressed_messages_stream_both_ways() {
    let opts = CompressionOptions::default();
    // Room for the whole compressed message each way: the peer sends all of it before it
    // reads the echo, and the echo loop below does not read while a write waits.
    let (ours, theirs) = tokio::io::duplex(8 << 20);
    let (on_server, _, answer) = negotiate(&opts, &opts);
    let counting = Counting {
        io: theirs,
        read: Arc::new(AtomicU64::new(0)),
        written: Arc::new(AtomicU64::new(0)),
    };
    // yawc fragments what it sends into 1000-byte frames.
    let mut peer = WebSocket::from_stream_with_extensions(
        counting,
        yawc::Role::Client,
        Some(&answer),
        yawc_options().with_max_fragment_size(1000),
    )
    .unwrap();
    let conn = Arc::new(Conn::new(
        Hijacked::new(ours),
        config(Role::Server, Some(on_server), None),
    ));
    let big: Vec<u8> = (0..400_000u32)
        .flat_map(|i| format!("line {} of the log: {}\n", i, i % 97).into_bytes())
        .take(2_000_000)
        .collect();
    let sent = big.clone();
    let reader = conn.clone();
    let echo = tokio::spawn(async move {
        // Stream in, stream out, never holding the message whole in our code.
        let (t, mut r) = reader.next_reader().await.unwrap();
        let mut w = reader.next_writer(t).await.unwrap();
        let mut chunk = vec![0u8; 7000];
        let mut total = 0;
        loop {
            let n = r.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
            w.write_all(&chunk[..n]).await.unwrap();
            if total % 3 == 0 {
                // A sync flush mid-message stays valid deflate for the peer.
                w.flush().await.unwrap();
            }
        }
        drop(r);
        w.shutdown().await.unwrap();
        total
    });
    within(peer.send(Frame::binary(sent))).await.unwrap();
    let (t, data) = peer_recv(&mut peer).await;
    assert_eq!(t, YawcOpCode::Binary);
    assert_eq!(within(echo).await.unwrap(), big.len());
    assert!(data == big[..], "echo differs");
}

/// Raw deflate of `data` as permessage-deflate puts it on the wire.
fn deflate(data: &[u8], window_bits: u8) -> Vec<u8> {
    let mut c = Compress::new_with_window_bits(Compression::new(9), false, window_bits);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .unwrap();
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    assert!(out.ends_with(&TRAILER));
    out.truncate(out.len() - TRAILER.len());
    out
}

/// A masked client frame.
fn client_frame(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut out = BytesMut::new();
    write_header(&mut out, fin, rsv1, opcode, Some(key), payload.len() as u64);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out.to_vec()
}

const TEXT: OpCode = OpCode::Data(Data::Text);
const BINARY: OpCode = OpCode::Data(Data::Binary);
const CONTINUE: OpCode = OpCode::Data(Data::Continue);
const PING: OpCode = OpCode::Control(Control::Ping);

/// Our server with default compression, and the raw client end of its stream.
fn raw_server() -> (Conn, DuplexStream) {
    let opts = CompressionOptions::default();
    let (on_server, _, _) = negotiate(&opts, &opts);
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    (
        Conn::new(
            Hijacked::new(ours),
            config(Role::Server, Some(on_server), None),
        ),
        theirs,
    )
}

/// Reads one frame the server sent: (first byte, payload).
async fn read_raw_frame(io: &mut DuplexStream) -> (u8, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some((h, n)) = parse_header(&buf).unwrap() {
            let total = n + h.payload_len as usize;
            if buf.len() >= total {
                return (buf[0], buf[n..total].to_vec());
            }
        }
        let mut chunk = [0u8; 4096];
        let got = within(io.read(&mut chunk)).await.unwrap();
        assert!(got > 0, "eof");
        buf.extend_from_slice(&chunk[..got]);
    }
}

#[tokio::test]
async fn next_reader_inflates_each_frame_as_it_arrives() {
    let (conn, mut client) = raw_server();
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i % 251) as u8 ^ (i / 7919) as u8)
        .collect();
    let wire = deflate(&data, 15);
    let (first, rest) = wire.split_at(wire.len() / 4);
    client
        .write_all(&client_frame(false, true, BINARY, first))
        .await
        .unwrap();
    let (t, mut reader) = within(conn.next_reader()).await.unwrap();
    assert_eq!(t, MessageType::Binary);
    // Output arrives although three quarters of the message have not been sent.
    let mut got = vec![0u8; 64 * 1024];
    let n = within(reader.read(&mut got)).await.unwrap();
    assert!(n > 0);
    assert_eq!(got[..n], data[..n]);
    let mut so_far = got[..n].to_vec();
    // Read everything the first frame holds: it stops short of the whole message.
    while let Ok(r) = tokio::time::timeout(Duration::from_millis(200), reader.read(&mut got)).await
    {
        so_far.extend_from_slice(&got[..r.unwrap()]);
    }
    assert!(so_far.len() < data.len(), "only what arrived");
    client
        .write_all(&client_frame(true, false, CONTINUE, rest))
        .await
        .unwrap();
    within(reader.read_to_end(&mut so_far)).await.unwrap();
    assert!(so_far == data, "whole message");
}

#[tokio::test]
async fn control_frames_between_compressed_fragments() {
    let (conn, mut client) = raw_server();
    let text = "ünïcödé text ".repeat(300);
    let wire = deflate(text.as_bytes(), 15);
    let (a, b) = wire.split_at(wire.len() / 2);
    let mut bytes = client_frame(false, true, TEXT, a);
    bytes.extend(client_frame(true, false, PING, b"ping!"));
    bytes.extend(client_frame(true, false, CONTINUE, b));
    client.write_all(&bytes).await.unwrap();
    let (t, data) = within(conn.read_message()).await.unwrap();
    assert_eq!((t, &data[..]), (MessageType::Text, text.as_bytes()));
    let (first, payload) = read_raw_frame(&mut client).await;
    assert_eq!(
        (first, &payload[..]),
        (0x8a, &b"ping!"[..]),
        "pong, uncompressed"
    );
}

#[tokio::test]
async fn invalid_utf8_after_inflating_closes_1007() {
    let (conn, mut client) = raw_server();
    let wire = deflate(b"valid start \xff\xfe then garbage", 15);
    client
        .write_all(&client_frame(true, true, TEXT, &wire))
        .await
        .unwrap();
    let err = within(conn.read_message()).await.unwrap_err();
    assert_eq!(
        err.close_code(),
        Some(CloseCode::INVALID_FRAME_PAYLOAD_DATA)
    );
    let (first, payload) = read_raw_frame(&mut client).await;
    assert_eq!(first, 0x88);
    assert_eq!(payload[..2], 1007u16.to_be_bytes());
}

#[tokio::test]
async fn rsv1_without_compression_is_a_protocol_error() {
    let (ours, mut client) = tokio::io::duplex(1 << 16);
    let conn = Conn::new(Hijacked::new(ours), config(Role::Server, None, None));
    client
        .write_all(&client_frame(true, true, TEXT, &deflate(b"hi", 15)))
        .await
        .unwrap();
    let err = within(conn.read_message()).await.unwrap_err();
    assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
}

#[tokio::test]
async fn empty_compressed_messages() {
    let (conn, mut client) = raw_server();
    // RFC 7692's single 0x00, an empty payload, then a real message with context.
    let mut bytes = client_frame(true, true, TEXT, &[0x00]);
    bytes.extend(client_frame(true, true, BINARY, &[]));
    bytes.extend(client_frame(true, true, TEXT, &deflate(b"after", 15)));
    client.write_all(&bytes).await.unwrap();
    assert_eq!(within(conn.read_message()).await.unwrap().1, &b""[..]);
    assert_eq!(within(conn.read_message()).await.unwrap().1, &b""[..]);
    assert_eq!(within(conn.read_message()).await.unwrap().1, &b"after"[..]);
    // And an empty message from us, compressed when the threshold allows.
    let opts = CompressionOptions {
        threshold: 0,
        ..CompressionOptions::default()
    };
    let mut p = pair(Role::Server, Some((&opts, &opts)), None);
    p.conn.write_message(MessageType::Text, b"").await.unwrap();
    assert_eq!(peer_recv(&mut p.peer).await.1, &b""[..]);
    within(p.peer.send(Frame::text(""))).await.unwrap();
    assert_eq!(within(p.conn.read_message()).await.unwrap().1, &b""[..]);
}

#[tokio::test]
async fn skipped_compressed_message_keeps_the_context() {
    // With context takeover, message B refers to A's bytes: skipping A unread must still
    // run it through the inflater.
    let opts = CompressionOptions::default();
    let mut p = pair(Role::Server, Some((&opts, &opts)), None);
    let a = chat_message(1).repeat(20);
    within(p.peer.send(Frame::text(a.clone()))).await.unwrap();
    within(p.peer.send(Frame::text(a.clone()))).await.unwrap();
    let (_, mut reader) = within(p.conn.next_reader()).await.unwrap();
    let mut some = [0u8; 10];
    reader.read_exact(&mut some).await.unwrap();
    drop(reader);
    let (_, b) = within(p.conn.read_message()).await.unwrap();
    assert_eq!(b, a.as_bytes());
    // The second copy was nearly all back-reference.
    assert!(p.we_read.load(Ordering::Relaxed) < (a.len() / 2) as u64);
}

/// 64 MiB of zeros: about 64 KiB compressed.
fn bomb() -> Vec<u8> {
    deflate(&vec![0u8; 64 << 20], 15)
}

#[tokio::test]
async fn compression_bomb_stops_at_the_read_limit() {
    let bomb = bomb();
    assert!(bomb.len() < 100 << 10, "{}", bomb.len());
    const READ_LIMIT: u64 = 1 << 20;

    // read_message: a read-limit error and a 1009 close, never more than the limit
    // allocated for the output.
    let (conn, client) = raw_server();
    conn.set_read_limit(READ_LIMIT);
    let writer = tokio::spawn({
        let frame = client_frame(true, true, BINARY, &bomb);
        let (mut read, mut write) = tokio::io::split(client);
        async move {
            write.write_all(&frame).await.unwrap();
            read_raw_frame_half(&mut read).await
        }
    });
    let mut reader = conn.reader.lock().await;
    poll_fn(|cx| reader.poll_next_message(cx)).await.unwrap();
    assert!(reader.message_compressed());
    let mut out = Vec::new();
    let err = within(poll_fn(|cx| reader.poll_read_inflated(cx, &mut out)))
        .await
        .unwrap_err();
    assert!(err.is_read_limit(), "{err}");
    assert!(
        out.capacity() as u64 <= READ_LIMIT + 1,
        "output grew to {} for a limit of {READ_LIMIT}",
        out.capacity()
    );
    drop(reader);
    let (first, payload) = within(writer).await.unwrap();
    assert_eq!(first, 0x88, "close frame");
    assert_eq!(payload[..2], 1009u16.to_be_bytes());
    // The error is permanent, as gorilla's are.
    assert!(conn.read_message().await.unwrap_err().is_read_limit());

    // The same through read_message and through a streaming reader.
    for streaming in [false, true] {
        let (conn, mut client) = raw_server();
        conn.set_read_limit(READ_LIMIT);
        let frame = client_frame(true, true, BINARY, &bomb);
        tokio::spawn(async move {
            let _ = client.write_all(&frame).await;
            let mut sink = Vec::new();
            let _ = client.read_to_end(&mut sink).await;
        });
        let err = if streaming {
            let (_, mut r) = within(conn.next_reader()).await.unwrap();
            let mut total = 0u64;
            let mut chunk = vec![0u8; 100_000];
            let err = loop {
                match within(r.read(&mut chunk)).await {
                    Ok(0) => panic!("the bomb ended within the limit"),
                    Ok(n) => total += n as u64,
                    Err(e) => break Error::from(e),
                }
            };
            assert!(total <= READ_LIMIT, "streamed {total}");
            err
        } else {
            within(conn.read_message()).await.unwrap_err()
        };
        assert!(err.is_read_limit(), "streaming {streaming}: {err}");
    }
}

async fn read_raw_frame_half(io: &mut tokio::io::ReadHalf<DuplexStream>) -> (u8, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some((h, n)) = parse_header(&buf).unwrap() {
            let total = n + h.payload_len as usize;
            if buf.len() >= total {
                return (buf[0], buf[n..total].to_vec());
            }
        }
        let mut chunk = [0u8; 4096];
        let got = io.read(&mut chunk).await.unwrap();
        assert!(got > 0, "eof");
        buf.extend_from_slice(&chunk[..got]);
    }
}

#[tokio::test]
async fn prepared_message_reaches_every_kind_of_connection() {
    let default = CompressionOptions::default();
    let none = CompressionOptions::no_context_takeover();
    let small = CompressionOptions {
        server_max_window_bits: 10,
        client_max_window_bits: 10,
        ..none
    };
    let tiny = CompressionOptions {
        server_max_window_bits: 8,
        client_max_window_bits: 8,
        ..default
    };
    type Variant<'a> = (
        &'a str,
        Role,
        Option<(&'a CompressionOptions, &'a CompressionOptions)>,
    );
    let variants: Vec<Variant> = vec![
        ("uncompressed", Role::Server, None),
        ("no context takeover", Role::Server, Some((&default, &none))),
        (
            "no context takeover again",
            Role::Server,
            Some((&none, &none)),
        ),
        (
            "no context takeover, window 10",
            Role::Server,
            Some((&default, &small)),
        ),
        ("context takeover", Role::Server, Some((&default, &default))),
        (
            "window 8: sent uncompressed",
            Role::Server,
            Some((&tiny, &tiny)),
        ),
        (
            "client, no context takeover",
            Role::Client,
            Some((&none, &none)),
        ),
        (
            "client, context takeover",
            Role::Client,
            Some((&default, &default)),
        ),
        ("client, uncompressed", Role::Client, None),
    ];
    let mut pairs: Vec<(&str, Pair)> = variants
        .into_iter()
        .map(|(name, role, options)| (name, pair(role, options, None)))
        .collect();
    let messages: Vec<PreparedMessage> = (0..3)
        .map(|i| PreparedMessage::new(MessageType::Text, chat_message(i).repeat(3)).unwrap())
        .collect();
    for message in &messages {
        for (name, p) in &mut pairs {
            p.conn.write_prepared_message(message).await.unwrap();
            let (t, data) = peer_recv(&mut p.peer).await;
            assert_eq!(t, YawcOpCode::Text, "{name}");
            assert_eq!(data, message.data(), "{name}");
        }
        // One encoding per (window, level) among the context-free connections: window 15
        // (three connections, server and client alike) and window 10.
        assert_eq!(message.cached_encodings(), 2);
    }
    let binary = PreparedMessage::new(MessageType::Binary, vec![7u8; 5000]).unwrap();
    let ping = PreparedMessage::new(MessageType::Ping, &b"are you there"[..]).unwrap();
    assert!(PreparedMessage::new(MessageType::Pong, vec![0u8; 126]).is_err());
    for (name, p) in &mut pairs {
        p.conn.write_prepared_message(&ping).await.unwrap();
        p.conn.write_prepared_message(&binary).await.unwrap();
        let (t, data) = peer_recv(&mut p.peer).await;
        assert_eq!(
            (t, &data[..]),
            (YawcOpCode::Binary, &[7u8; 5000][..]),
            "{name}"
        );
    }
    // The window-8 server never compressed: what it wrote is the payloads plus headers.
    let (_, tiny_pair) = &pairs[5];
    let plain: usize = messages.iter().map(|m| m.data().len()).sum::<usize>() + 5000 + 13;
    let wrote = tiny_pair.we_wrote.load(Ordering::Relaxed) as usize;
    assert!(wrote >= plain && wrote < plain + 50, "{wrote} vs {plain}");
}

#[tokio::test]
async fn prepared_frames_are_identical_across_servers() {
    let none = CompressionOptions::no_context_takeover();
    let (on_server, _, _) = negotiate(&none, &none);
    let message = PreparedMessage::new(MessageType::Text, chat_message(9).repeat(4)).unwrap();
    let mut frames = Vec::new();
    for _ in 0..3 {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let conn = Conn::new(
            Hijacked::new(ours),
            config(Role::Server, Some(on_server), None),
        );
        conn.write_prepared_message(&message).await.unwrap();
        frames.push(read_raw_frame(&mut theirs).await);
    }
    assert_eq!(frames[0].0, 0xc1, "FIN + RSV1 + text");
    assert!(frames[0].1.len() < message.data().len() / 2);
    assert!(frames.iter().all(|f| *f == frames[0]));
    assert_eq!(message.cached_encodings(), 1);
}

#[tokio::test]
async fn write_compression_switch_level_and_threshold() {
    let opts = CompressionOptions::default();
    let mut p = pair(Role::Server, Some((&opts, &opts)), None);
    let text = chat_message(3).repeat(10);
    let sent = |p: &Pair| p.we_wrote.load(Ordering::Relaxed) as usize;

    p.conn.enable_write_compression(false);
    p.conn
        .write_message(MessageType::Text, text.as_bytes())
        .await
        .unwrap();
    assert_eq!(peer_recv(&mut p.peer).await.1, text.as_bytes());
    assert_eq!(
        sent(&p),
        text.len() + 4,
        "uncompressed: payload and a 4-byte header"
    );

    p.conn.enable_write_compression(true);
    for level in [-1, 0, 9, 1] {
        p.conn.set_compression_level(level).unwrap();
        let before = sent(&p);
        p.conn
            .write_message(MessageType::Text, text.as_bytes())
            .await
            .unwrap();
        assert_eq!(
            peer_recv(&mut p.peer).await.1,
            text.as_bytes(),
            "level {level}"
        );
        let size = sent(&p) - before;
        if level == 0 {
            assert!(size > text.len(), "stored blocks: {size}");
        } else {
            assert!(size < text.len() / 3, "level {level}: {size}");
        }
    }
    for bad in [-2, 10, i32::MIN] {
        assert!(
            p.conn
                .set_compression_level(bad)
                .unwrap_err()
                .is_invalid_argument()
        );
    }
    // Below the threshold (64 by default): sent as is.
    let before = sent(&p);
    p.conn
        .write_message(MessageType::Binary, &[1u8; 63])
        .await
        .unwrap();
    assert_eq!(peer_recv(&mut p.peer).await.1, &[1u8; 63][..]);
    assert_eq!(sent(&p) - before, 63 + 2);
    // The handle has the same switches.
    let handle = p.conn.handle();
    handle.enable_write_compression(false);
    assert!(handle.set_compression_level(5).is_ok());
}

/// A pool that always hands out a buffer and counts those not yet returned.
#[derive(Default)]
struct CountingPool {
    free: StdMutex<Vec<BytesMut>>,
    out: AtomicUsize,
    peak: AtomicUsize,
    made: AtomicUsize,
}

impl BufferPool for CountingPool {
    fn get(&self) -> Option<BytesMut> {
        let now = self.out.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let reused = self.free.lock().unwrap().pop();
        Some(reused.unwrap_or_else(|| {
            self.made.fetch_add(1, Ordering::SeqCst);
            BytesMut::with_capacity(4096)
        }))
    }
    fn put(&self, buf: BytesMut) {
        self.out.fetch_sub(1, Ordering::SeqCst);
        self.free.lock().unwrap().push(buf);
    }
}

#[tokio::test]
async fn write_buffer_pool_is_only_used_while_writing() {
    // 100 connections, half of them compressing: after every kind of write, no connection
    // holds a pooled buffer, and the pool made only as many as were in use at once.
    let pool = Arc::new(CountingPool::default());
    let opts = CompressionOptions::default();
    let mut pairs: Vec<Pair> = (0..100)
        .map(|i| {
            let compression = (i % 2 == 0).then_some((&opts, &opts));
            pair(
                Role::Server,
                compression,
                Some(pool.clone() as Arc<dyn BufferPool>),
            )
        })
        .collect();
    let prepared = PreparedMessage::new(MessageType::Text, chat_message(5)).unwrap();
    let big = chat_message(6).repeat(500);
    for p in &mut pairs {
        p.conn
            .write_message(MessageType::Text, chat_message(1).as_bytes())
            .await
            .unwrap();
        p.conn
            .write_message(MessageType::Binary, big.as_bytes())
            .await
            .unwrap();
        let mut w = p.conn.next_writer(MessageType::Text).await.unwrap();
        w.write_all(big.as_bytes()).await.unwrap();
        w.flush().await.unwrap();
        w.write_all(b" and more").await.unwrap();
        w.shutdown().await.unwrap();
        p.conn.write_prepared_message(&prepared).await.unwrap();
        p.conn
            .write_control(MessageType::Ping, b"x", None)
            .await
            .unwrap();
        assert_eq!(
            pool.out.load(Ordering::SeqCst),
            0,
            "idle connection holds a buffer"
        );
        assert_eq!(peer_recv(&mut p.peer).await.1, chat_message(1).as_bytes());
        assert_eq!(peer_recv(&mut p.peer).await.1, big.as_bytes());
        assert_eq!(
            peer_recv(&mut p.peer).await.1,
            format!("{big} and more").as_bytes()
        );
        assert_eq!(peer_recv(&mut p.peer).await.1, prepared.data());
    }
    // One connection at a time: a writer holds at most three pooled buffers (its message
    // buffer, the compressed output, the frame scratch), so the pool made no more.
    assert!(pool.peak.load(Ordering::SeqCst) <= 3, "{:?}", pool.peak);
    assert!(pool.made.load(Ordering::SeqCst) <= 3);

    // All 100 writing at once to peers that do not read yet: in use, bounded per writer;
    // once the peers read and the writes finish, nothing is held again.
    let tasks: Vec<_> = pairs
        .iter()
        .map(|p| {
            let handle = p.conn.handle();
            let big = big.clone();
            tokio::spawn(async move {
                let mut w = handle.next_writer(MessageType::Binary).await.unwrap();
                w.write_all(big.as_bytes()).await.unwrap();
                w.write_all(big.as_bytes()).await.unwrap();
                w.shutdown().await.unwrap();
                handle
                    .write_message(MessageType::Binary, big.as_bytes())
                    .await
                    .unwrap();
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let writing = pool.out.load(Ordering::SeqCst);
    assert!(writing <= 300, "{writing} buffers for 100 writers");
    for p in &mut pairs {
        let doubled = format!("{big}{big}");
        assert_eq!(peer_recv(&mut p.peer).await.1, doubled.as_bytes());
        assert_eq!(peer_recv(&mut p.peer).await.1, big.as_bytes());
    }
    for t in tasks {
        within(t).await.unwrap();
    }
    assert_eq!(pool.out.load(Ordering::SeqCst), 0);
    assert!(pool.made.load(Ordering::SeqCst) <= 300);
}

/// The compression ratio of a realistic stream: 1000 chat messages of about 200 bytes of
/// JSON, sent by a server with and without context takeover (default level 1, 32 KiB
/// window). Run with `--nocapture` to see the figures.
#[tokio::test]
async fn compression_ratio_of_a_json_chat_stream() {
    let messages: Vec<String> = (0..1000).map(chat_message).collect();
    let raw: usize = messages.iter().map(String::len).sum();
    let mut results = Vec::new();
    for (name, server) in [
        ("context takeover", CompressionOptions::default()),
        (
            "no context takeover",
            CompressionOptions::no_context_takeover(),
        ),
    ] {
        let mut p = pair(
            Role::Server,
            Some((&CompressionOptions::default(), &server)),
            None,
        );
        for m in &messages {
            p.conn
                .write_message(MessageType::Text, m.as_bytes())
                .await
                .unwrap();
            assert_eq!(peer_recv(&mut p.peer).await.1, m.as_bytes());
        }
        let wire = p.we_wrote.load(Ordering::Relaxed) as usize;
        println!(
            "{name}: {raw} bytes of JSON in 1000 messages (avg {}) -> {wire} bytes on the wire \
             (headers included), {:.1}% of the original, ratio {:.2}:1",
            raw / 1000,
            wire as f64 * 100.0 / raw as f64,
            raw as f64 / wire as f64
        );
        results.push(wire);
    }
    assert!(
        results[0] * 3 < results[1] * 2,
        "context takeover saves a third: {results:?}"
    );
    assert!(results[1] < raw, "{results:?}");
}
