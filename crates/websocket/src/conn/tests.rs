//! Unit tests of the connection engine against tokio-tungstenite, an independent
//! implementation, over an in-memory pipe. Socket-level tests live in `tests/`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{
        Message,
        protocol::{CloseFrame, Role as PeerRole, frame::coding::CloseCode as PeerCloseCode},
    },
};

use super::*;

const LIMIT: Duration = Duration::from_secs(5);

/// A server's configuration with every default and no compression.
pub(super) fn server_config() -> ConnConfig {
    ConnConfig {
        role: Role::Server,
        subprotocol: String::new(),
        read_buffer_size: 0,
        write_buffer_size: 0,
        write_buffer_pool: None,
        local_addr: None,
        remote_addr: None,
        compression: None,
    }
}

fn server_with(io: DuplexStream, early: &'static [u8]) -> Conn {
    let hijacked = Hijacked::new(io).with_read_buf(Bytes::from_static(early));
    Conn::new(hijacked, server_config())
}

async fn pair() -> (Conn, WebSocketStream<DuplexStream>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let client = WebSocketStream::from_raw_socket(b, PeerRole::Client, None).await;
    (server_with(a, b""), client)
}

async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("timed out")
}

#[tokio::test]
async fn echoes_text_and_binary() {
    let (conn, mut client) = pair().await;
    client.send(Message::text("héllo")).await.unwrap();
    client
        .send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    for _ in 0..2 {
        let (t, data) = within(conn.read_message()).await.unwrap();
        conn.write_message(t, &data).await.unwrap();
    }
    assert_eq!(
        within(client.next()).await.unwrap().unwrap(),
        Message::text("héllo")
    );
    assert_eq!(
        within(client.next()).await.unwrap().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
}

#[tokio::test]
async fn large_message_round_trips() {
    let (conn, mut client) = pair().await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let send = big.clone();
    let peer = tokio::spawn(async move {
        client.send(Message::binary(send)).await.unwrap();
        client.next().await.unwrap().unwrap()
    });
    let (t, data) = within(conn.read_message()).await.unwrap();
    assert_eq!(t, MessageType::Binary);
    assert_eq!(&data[..], &big[..]);
    conn.write_message(t, &data).await.unwrap();
    assert_eq!(within(peer).await.unwrap(), Message::binary(big));
}

/// Writes raw frames as a client would (masked), for cases tungstenite will not produce.
pub(super) fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    assert!(payload.len() < 126);
    out.push(0x80 | payload.len() as u8);
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Reads one unmasked server frame: (fin, opcode, payload).
pub(super) async fn server_frame(io: &mut DuplexStream) -> (bool, u8, Vec<u8>) {
    let mut head = [0u8; 2];
    io.read_exact(&mut head).await.unwrap();
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => io.read_u16().await.unwrap() as usize,
        127 => io.read_u64().await.unwrap() as usize,
        n => n as usize,
    };
    let mut payload = vec![0; len];
    io.read_exact(&mut payload).await.unwrap();
    (head[0] & 0x80 != 0, head[0] & 0x0f, payload)
}

#[tokio::test]
async fn fragments_with_interleaved_ping_are_reassembled_and_ping_answered() {
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let conn = server_with(a, b"");
    let mut wire = client_frame(false, 1, b"hel");
    wire.extend(client_frame(true, 9, b"p"));
    wire.extend(client_frame(true, 0, b"lo"));
    b.write_all(&wire).await.unwrap();
    let (t, data) = within(conn.read_message()).await.unwrap();
    assert_eq!((t, &data[..]), (MessageType::Text, &b"hello"[..]));
    assert_eq!(
        within(server_frame(&mut b)).await,
        (true, 10, b"p".to_vec())
    );
}

#[tokio::test]
async fn bytes_read_before_the_hijack_are_not_lost() {
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let early = client_frame(true, 2, b"early");
    let conn = server_with(a, Box::leak(early.into_boxed_slice()));
    b.write_all(&client_frame(true, 2, b"late")).await.unwrap();
    assert_eq!(&within(conn.read_message()).await.unwrap().1[..], b"early");
    assert_eq!(&within(conn.read_message()).await.unwrap().1[..], b"late");
}

async fn expect_close(b: &mut DuplexStream, code: u16) {
    let (fin, op, payload) = within(server_frame(b)).await;
    assert!(fin);
    assert_eq!(op, 8, "close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code);
}

#[tokio::test]
async fn protocol_violations_close_with_1002() {
    let cases: Vec<Vec<u8>> = vec![
        client_frame(true, 3, b""),   // reserved opcode
        client_frame(true, 0, b"x"),  // continuation without a message
        client_frame(false, 9, b""),  // fragmented control frame
        vec![0x81, 0x01, b'x'],       // unmasked client frame
        vec![0xC1, 0x80, 0, 0, 0, 0], // RSV1 without an extension
        [client_frame(false, 1, b"a"), client_frame(true, 1, b"b")].concat(), // new message mid-message
    ];
    for wire in cases {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let conn = server_with(a, b"");
        b.write_all(&wire).await.unwrap();
        let err = within(conn.read_message()).await.unwrap_err();
        assert!(err.is_protocol(), "{err}");
        expect_close(&mut b, 1002).await;
        // Errors are permanent.
        assert!(within(conn.read_message()).await.unwrap_err().is_protocol());
    }
}

#[tokio::test]
async fn invalid_utf8_fails_fast_with_1007() {
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let conn = server_with(a, b"");
    // The first fragment is already invalid; the message never completes.
    b.write_all(&client_frame(false, 1, &[b'a', 0xff]))
        .await
        .unwrap();
    let err = within(conn.read_message()).await.unwrap_err();
    assert!(err.is_protocol());
    expect_close(&mut b, 1007).await;
}

#[tokio::test]
async fn read_limit_closes_with_1009() {
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let conn = server_with(a, b"");
    conn.set_read_limit(4);
    b.write_all(&client_frame(true, 2, b"12345")).await.unwrap();
    let err = within(conn.read_message()).await.unwrap_err();
    assert!(err.is_read_limit());
    expect_close(&mut b, 1009).await;
}

#[tokio::test]
async fn peer_close_is_echoed_and_reported() {
    let (conn, mut client) = pair().await;
    client
        .close(Some(CloseFrame {
            code: PeerCloseCode::Away,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    let err = within(conn.read_message()).await.unwrap_err();
    let close = err.close_error().expect("close error");
    assert_eq!(close.code, CloseCode::GOING_AWAY);
    assert_eq!(close.text, "bye");
    assert!(crate::is_close_error(&err, &[CloseCode::GOING_AWAY]));
    // tungstenite sees our echo and finishes its closing handshake.
    match within(client.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, PeerCloseCode::Away),
        other => panic!("expected the echoed close, got {other:?}"),
    }
    // After our echo, writes fail with close sent.
    assert!(
        conn.write_message(MessageType::Text, b"x")
            .await
            .unwrap_err()
            .is_close_sent()
    );
}

#[tokio::test]
async fn abrupt_eof_is_abnormal_closure() {
    let (a, b) = tokio::io::duplex(64);
    let conn = server_with(a, b"");
    drop(b);
    let err = within(conn.read_message()).await.unwrap_err();
    assert_eq!(err.close_error().unwrap().code, CloseCode::ABNORMAL_CLOSURE);
    assert!(crate::is_unexpected_close_error(
        &err,
        &[CloseCode::GOING_AWAY]
    ));
}

#[tokio::test]
async fn next_reader_streams_frame_by_frame() {
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let conn = server_with(a, b"");
    b.write_all(&client_frame(false, 2, b"first"))
        .await
        .unwrap();
    let (t, mut r) = within(conn.next_reader()).await.unwrap();
    assert_eq!(t, MessageType::Binary);
    let mut got = [0u8; 5];
    // The first fragment is readable before the message is complete.
    within(r.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"first");
    b.write_all(&client_frame(true, 0, b"+last")).await.unwrap();
    let mut rest = Vec::new();
    within(r.read_to_end(&mut rest)).await.unwrap();
    assert_eq!(rest, b"+last");
}

#[tokio::test]
async fn next_reader_discards_an_unread_message() {
    let (conn, mut client) = pair().await;
    client.send(Message::text("skipped")).await.unwrap();
    client.send(Message::text("kept")).await.unwrap();
    let (_, r) = within(conn.next_reader()).await.unwrap();
    drop(r);
    let (_, data) = within(conn.read_message()).await.unwrap();
    assert_eq!(&data[..], b"kept");
}

#[tokio::test]
async fn next_writer_fragments_and_shutdown_ends_the_message() {
    let (a, mut b) = tokio::io::duplex(1 << 20);
    let conn = server_with(a, b"");
    let mut w = conn.next_writer(MessageType::Text).await.unwrap();
    let payload = "x".repeat(10_000);
    w.write_all(payload.as_bytes()).await.unwrap();
    w.shutdown().await.unwrap();
    let mut got = Vec::new();
    let mut frames = 0;
    loop {
        let (fin, op, data) = within(server_frame(&mut b)).await;
        assert_eq!(op, if frames == 0 { 1 } else { 0 });
        frames += 1;
        got.extend(data);
        if fin {
            break;
        }
    }
    assert!(
        frames > 1,
        "a 10 kB message through a 4 kB buffer is fragmented"
    );
    assert_eq!(got, payload.as_bytes());
}

#[tokio::test]
async fn dropped_writer_still_completes_its_message() {
    let (conn, mut client) = pair().await;
    let mut w = conn.next_writer(MessageType::Binary).await.unwrap();
    w.write_all(b"unfinished").await.unwrap();
    drop(w);
    conn.write_message(MessageType::Text, b"next")
        .await
        .unwrap();
    assert_eq!(
        within(client.next()).await.unwrap().unwrap(),
        Message::binary(&b"unfinished"[..])
    );
    assert_eq!(
        within(client.next()).await.unwrap().unwrap(),
        Message::text("next")
    );
}

#[tokio::test]
async fn concurrent_writers_never_interleave() {
    let (conn, mut client) = pair().await;
    let conn = Arc::new(conn);
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let mut w = conn.next_writer(MessageType::Binary).await.unwrap();
                // Several fragments per message, each tagged with the writer.
                for _ in 0..3 {
                    w.write_all(&[i; 5000]).await.unwrap();
                }
                w.shutdown().await.unwrap();
            }
        }));
    }
    let reader = tokio::spawn(async move {
        for _ in 0..160 {
            let Message::Binary(data) = client.next().await.unwrap().unwrap() else {
                panic!("binary expected");
            };
            assert_eq!(data.len(), 15_000);
            assert!(
                data.iter().all(|b| *b == data[0]),
                "fragments of two messages mixed"
            );
        }
    });
    for t in tasks {
        within(t).await.unwrap();
    }
    within(reader).await.unwrap();
}

#[tokio::test]
async fn read_task_and_write_task_share_a_conn() {
    let (conn, client) = pair().await;
    let conn = Arc::new(conn);
    let (mut tx, mut rx) = client.split();
    let reader = {
        let conn = conn.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((_, data)) = conn.read_message().await {
                assert_eq!(&data[..], b"from client");
                n += 1;
            }
            n
        })
    };
    // The write task writes while the read task is parked in read_message.
    for _ in 0..50 {
        conn.write_message(MessageType::Text, b"from server")
            .await
            .unwrap();
        tx.send(Message::text("from client")).await.unwrap();
    }
    for _ in 0..50 {
        assert_eq!(
            within(rx.next()).await.unwrap().unwrap(),
            Message::text("from server")
        );
    }
    tx.send(Message::Close(None)).await.unwrap();
    assert_eq!(within(reader).await.unwrap(), 50);
}

#[tokio::test]
async fn write_control_and_close_work_while_a_read_is_pending() {
    let (conn, mut client) = pair().await;
    let conn = Arc::new(conn);
    let reader = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.read_message().await })
    };
    tokio::task::yield_now().await;
    conn.write_control(MessageType::Ping, b"hb", Some(Instant::now() + LIMIT))
        .await
        .unwrap();
    assert_eq!(
        within(client.next()).await.unwrap().unwrap(),
        Message::Ping(Bytes::from_static(b"hb"))
    );
    within(conn.close()).await.unwrap();
    let err = within(reader).await.unwrap().unwrap_err();
    assert!(err.is_local_closed(), "{err}");
}

#[tokio::test]
async fn control_message_limits_are_enforced() {
    let (conn, _client) = pair().await;
    let err = conn
        .write_control(MessageType::Ping, &[0; 126], None)
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument());
    let err = conn
        .write_control(MessageType::Text, b"", None)
        .await
        .unwrap_err();
    assert!(err.is_invalid_argument());
}

#[tokio::test]
async fn read_deadline_times_out_permanently() {
    let (conn, _client) = pair().await;
    conn.set_read_deadline(Some(Instant::now() + Duration::from_millis(50)));
    let err = within(conn.read_message()).await.unwrap_err();
    assert!(err.is_timeout());
    conn.set_read_deadline(None);
    assert!(within(conn.read_message()).await.unwrap_err().is_timeout());
}

#[tokio::test]
async fn a_write_past_its_deadline_fails_and_breaks_the_conn() {
    let (conn, _client) = pair().await;
    conn.set_write_deadline(Some(Instant::now() - Duration::from_millis(1)));
    let err = within(conn.write_message(MessageType::Text, b"late"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    conn.set_write_deadline(None);
    let err = within(conn.write_message(MessageType::Text, b"after"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "the failure is permanent: {err}");
}

#[tokio::test]
async fn the_write_deadline_bounds_a_write_the_peer_does_not_read() {
    // A pipe that holds 4 KiB and a peer that never reads; a frame copied behind its header
    // (10 KiB) and one written with a vectored write (64 KiB).
    for size in [10 * 1024, 64 * 1024] {
        let (a, _b) = tokio::io::duplex(4096);
        let conn = server_with(a, b"");
        conn.set_write_deadline(Some(Instant::now() + Duration::from_millis(100)));
        let started = Instant::now();
        let err = within(conn.write_message(MessageType::Binary, &vec![7; size]))
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{size}: {err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn close_ends_a_write_blocked_on_the_peer() {
    let (a, _b) = tokio::io::duplex(4096);
    let conn = std::sync::Arc::new(server_with(a, b""));
    let writer = conn.clone();
    let blocked = tokio::spawn(async move {
        writer
            .write_message(MessageType::Binary, &[7; 64 * 1024])
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!blocked.is_finished(), "the write waits for the peer");
    within(conn.close()).await.unwrap();
    let err = within(blocked).await.unwrap().unwrap_err();
    assert!(err.is_local_closed(), "{err}");
}

#[tokio::test]
async fn custom_handlers_run_and_can_move_the_deadline() {
    let (conn, mut client) = pair().await;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = conn.handle();
    conn.set_pong_handler(Some(move |data: Bytes| {
        handle.set_read_deadline(Some(Instant::now() + Duration::from_secs(60)));
        let _ = seen_tx.send(data);
        async { Ok(()) }
    }));
    client
        .send(Message::Pong(Bytes::from_static(b"pp")))
        .await
        .unwrap();
    client.send(Message::text("after")).await.unwrap();
    let (_, data) = within(conn.read_message()).await.unwrap();
    assert_eq!(&data[..], b"after");
    assert_eq!(seen_rx.recv().await.unwrap(), Bytes::from_static(b"pp"));
}

#[tokio::test]
async fn json_round_trip() {
    let (conn, mut client) = pair().await;
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Point {
        x: i32,
        y: i32,
    }
    client
        .send(Message::text(r#"{"x":1,"y":2}"#))
        .await
        .unwrap();
    let p: Point = within(conn.read_json()).await.unwrap();
    assert_eq!(p, Point { x: 1, y: 2 });
    conn.write_json(&p).await.unwrap();
    assert_eq!(
        within(client.next()).await.unwrap().unwrap(),
        Message::text(r#"{"x":1,"y":2}"#)
    );
    client.send(Message::text("not json")).await.unwrap();
    assert!(
        within(conn.read_json::<Point>())
            .await
            .unwrap_err()
            .is_json()
    );
}
