//! Write coalescing (see `write.rs`): replies to pipelined messages share writes, and a
//! deferred frame still reaches the peer whatever the application does next. The peer is
//! tokio-tungstenite over an in-memory pipe that counts the server's writes.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use compat::Hijacked;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, protocol::Role as PeerRole},
};

use super::Conn;
use crate::MessageType;

const LIMIT: Duration = Duration::from_secs(5);

/// A pipe end that counts the `poll_write` calls that wrote something.
struct CountingIo {
    io: DuplexStream,
    writes: Arc<AtomicUsize>,
}

impl AsyncRead for CountingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A server `Conn` whose writes are counted, and its tokio-tungstenite peer.
async fn counted_pair() -> (Conn, Arc<AtomicUsize>, WebSocketStream<DuplexStream>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let writes = Arc::new(AtomicUsize::new(0));
    let io = CountingIo {
        io: a,
        writes: writes.clone(),
    };
    let conn = Conn::new(Hijacked::new(io), super::tests::server_config());
    let peer = WebSocketStream::from_raw_socket(b, PeerRole::Client, None).await;
    (conn, writes, peer)
}

/// Sends `n` numbered binary messages in one flush, so they arrive together.
async fn send_burst(peer: &mut WebSocketStream<DuplexStream>, n: u8) {
    for i in 0..n {
        peer.feed(Message::binary(vec![i; 16])).await.unwrap();
    }
    peer.flush().await.unwrap();
}

async fn expect_binary(peer: &mut WebSocketStream<DuplexStream>, expected: &[u8]) {
    let got = tokio::time::timeout(LIMIT, peer.next())
        .await
        .expect("a message in time");
    assert_eq!(got.unwrap().unwrap(), Message::binary(expected.to_vec()));
}

#[tokio::test]
async fn replies_to_pipelined_messages_share_one_write() {
    let (conn, writes, mut peer) = counted_pair().await;
    send_burst(&mut peer, 10).await;
    for _ in 0..10 {
        let (message_type, data) = conn.read_message().await.unwrap();
        conn.write_message(message_type, &data).await.unwrap();
    }
    // The last reply found no frame waiting behind its message, so it went out now and took
    // the nine deferred replies with it.
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    for i in 0..10 {
        expect_binary(&mut peer, &[i; 16]).await;
    }
}

#[tokio::test]
async fn a_lone_message_is_answered_by_a_write_of_its_own() {
    let (conn, writes, mut peer) = counted_pair().await;
    for i in 0..3u8 {
        peer.send(Message::binary(vec![i; 16])).await.unwrap();
        let (message_type, data) = conn.read_message().await.unwrap();
        conn.write_message(message_type, &data).await.unwrap();
        assert_eq!(writes.load(Ordering::SeqCst), usize::from(i) + 1);
        expect_binary(&mut peer, &[i; 16]).await;
    }
}

#[tokio::test]
async fn a_deferred_reply_goes_out_when_the_application_stops_reading() {
    let (conn, _writes, mut peer) = counted_pair().await;
    send_burst(&mut peer, 2).await;
    let (message_type, data) = conn.read_message().await.unwrap();
    conn.write_message(message_type, &data).await.unwrap();
    // The second message is never read: the spawned flush sends the reply all the same.
    expect_binary(&mut peer, &[0; 16]).await;
    drop(conn);
}

#[tokio::test]
async fn a_deferred_reply_survives_dropping_the_conn() {
    let (conn, _writes, mut peer) = counted_pair().await;
    send_burst(&mut peer, 2).await;
    let (message_type, data) = conn.read_message().await.unwrap();
    conn.write_message(message_type, &data).await.unwrap();
    drop(conn);
    expect_binary(&mut peer, &[0; 16]).await;
}

#[tokio::test]
async fn close_sends_deferred_replies_before_shutting_down() {
    let (conn, _writes, mut peer) = counted_pair().await;
    send_burst(&mut peer, 2).await;
    let (message_type, data) = conn.read_message().await.unwrap();
    conn.write_message(message_type, &data).await.unwrap();
    conn.close().await.unwrap();
    expect_binary(&mut peer, &[0; 16]).await;
    let end = tokio::time::timeout(LIMIT, peer.next()).await.unwrap();
    assert!(
        !matches!(end, Some(Ok(Message::Binary(_)))),
        "nothing after the reply, got {end:?}"
    );
}

#[tokio::test]
async fn a_control_frame_follows_the_deferred_replies_in_order() {
    let (conn, writes, mut peer) = counted_pair().await;
    send_burst(&mut peer, 3).await;
    for _ in 0..2 {
        let (message_type, data) = conn.read_message().await.unwrap();
        conn.write_message(message_type, &data).await.unwrap();
    }
    assert_eq!(writes.load(Ordering::SeqCst), 0, "both replies deferred");
    conn.write_control(MessageType::Ping, b"p", None)
        .await
        .unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 1, "one write for all three");
    expect_binary(&mut peer, &[0; 16]).await;
    expect_binary(&mut peer, &[1; 16]).await;
    let ping = tokio::time::timeout(LIMIT, peer.next()).await.unwrap();
    assert_eq!(
        ping.unwrap().unwrap(),
        Message::Ping(Bytes::from_static(b"p"))
    );
}

#[tokio::test]
async fn deferred_replies_are_capped_so_a_long_burst_still_streams() {
    let (conn, writes, mut peer) = counted_pair().await;
    // 64 messages of 1 KiB: more than the coalescing cap holds at once.
    for i in 0..64u8 {
        peer.feed(Message::binary(vec![i; 1024])).await.unwrap();
    }
    peer.flush().await.unwrap();
    for _ in 0..64 {
        let (message_type, data) = conn.read_message().await.unwrap();
        conn.write_message(message_type, &data).await.unwrap();
    }
    let n = writes.load(Ordering::SeqCst);
    assert!((2..64).contains(&n), "{n} writes for 64 replies");
    for i in 0..64u8 {
        expect_binary(&mut peer, &[i; 1024]).await;
    }
}

#[tokio::test]
async fn a_peer_that_keeps_the_buffer_full_does_not_starve_other_tasks() {
    let (conn, _writes, mut peer) = counted_pair().await;
    for i in 0..1000u32 {
        peer.feed(Message::binary(i.to_be_bytes().to_vec()))
            .await
            .unwrap();
    }
    peer.flush().await.unwrap();
    let echoed = Arc::new(AtomicUsize::new(0));
    let counter = echoed.clone();
    // On this single-threaded runtime the echo task runs first; the probe runs once it
    // yields. Every message is already buffered, so only the cooperative budget makes it
    // yield before it has answered them all.
    let echo = tokio::spawn(async move {
        for _ in 0..1000 {
            let (message_type, data) = conn.read_message().await.unwrap();
            conn.write_message(message_type, &data).await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let probe = tokio::spawn(async move { echoed.load(Ordering::SeqCst) });
    let seen = probe.await.unwrap();
    assert!(
        seen < 1000,
        "the echo task ran {seen} messages without yielding"
    );
    echo.await.unwrap();
    for i in 0..1000u32 {
        expect_binary(&mut peer, &i.to_be_bytes()).await;
    }
}

/// A server on a 256-byte pipe whose send direction is nearly full and holds a deferred
/// reply that does not fit: the peer has not read anything.
async fn blocked_deferred_reply() -> (Conn, DuplexStream) {
    use tokio::io::AsyncWriteExt;
    let (a, mut b) = tokio::io::duplex(256);
    let conn = Conn::new(Hijacked::new(a), super::tests::server_config());
    conn.write_message(MessageType::Binary, &[1; 200])
        .await
        .unwrap();
    let mut burst = super::tests::client_frame(true, 2, &[2; 100]);
    burst.extend(super::tests::client_frame(true, 2, &[3; 100]));
    b.write_all(&burst).await.unwrap();
    let (message_type, data) = conn.read_message().await.unwrap();
    // Deferred (the second message is buffered), then only partly written by the flush.
    conn.write_message(message_type, &data).await.unwrap();
    tokio::task::yield_now().await;
    (conn, b)
}

#[tokio::test]
async fn a_blocked_deferred_reply_keeps_waiting_while_the_conn_lives() {
    use tokio::io::AsyncReadExt;
    let (conn, mut peer) = blocked_deferred_reply().await;
    // Past one abandonment check: the Conn is alive, so the flush must still be waiting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut got = vec![0; 204 + 102];
    tokio::time::timeout(LIMIT, peer.read_exact(&mut got))
        .await
        .expect("the whole reply arrives once the peer reads")
        .unwrap();
    assert_eq!(&got[204 + 2..], &[2; 100]);
    drop(conn);
}

#[tokio::test]
async fn a_blocked_deferred_reply_does_not_keep_a_dropped_conn_open() {
    use tokio::io::AsyncReadExt;
    let (conn, mut peer) = blocked_deferred_reply().await;
    drop(conn);
    // The peer still does not read; once nobody holds the connection, the spawned flush
    // gives up and the connection closes: what the pipe held, then end of stream.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, peer.read_to_end(&mut got))
        .await
        .expect("the connection is closed")
        .unwrap();
    assert!(
        got.len() < 204 + 102,
        "{} bytes: the reply was not completed",
        got.len()
    );
}

#[tokio::test]
async fn a_write_dropped_while_it_waits_still_completes_its_frame_once() {
    use tokio::io::AsyncReadExt;
    let (a, mut peer) = tokio::io::duplex(256);
    let conn = Conn::new(Hijacked::new(a), super::tests::server_config());
    conn.write_message(MessageType::Binary, &[1; 200])
        .await
        .unwrap();
    let mut expected = vec![0x82, 126, 0, 200];
    expected.extend([1; 200]);
    expected.extend([0x82, 126, 0x03, 0xe8]);
    expected.extend([2; 1000]);
    expected.extend([0x81, 5]);
    expected.extend(b"after");
    // The pipe is nearly full, so this write waits; the peer reads a little meanwhile (the
    // write makes progress), then the caller gives up on it.
    let mut got = vec![0; 300];
    let (gave_up, read) = tokio::join!(
        tokio::time::timeout(
            Duration::from_millis(300),
            conn.write_message(MessageType::Binary, &[2; 1000])
        ),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            peer.read_exact(&mut got).await
        }
    );
    assert!(gave_up.is_err(), "the write had to wait");
    read.unwrap();
    // Whatever the caller did, the stream holds whole frames, none repeated.
    let reader = tokio::spawn(async move {
        let mut rest = vec![0; 1215 - 300];
        peer.read_exact(&mut rest).await.unwrap();
        got.extend(rest);
        let mut more = Vec::new();
        peer.read_to_end(&mut more).await.unwrap();
        got.extend(more);
        got
    });
    tokio::time::timeout(LIMIT, conn.write_message(MessageType::Text, b"after"))
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let got = tokio::time::timeout(LIMIT, reader).await.unwrap().unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "the byte stream differs from the three frames"
    );
}

#[tokio::test]
async fn a_control_frame_past_its_deadline_is_refused_without_breaking_the_conn() {
    let (conn, _writes, mut peer) = counted_pair().await;
    let past = std::time::Instant::now() - Duration::from_millis(1);
    let err = conn
        .write_control(MessageType::Ping, b"", Some(past))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    conn.write_message(MessageType::Binary, &[5; 16])
        .await
        .unwrap();
    expect_binary(&mut peer, &[5; 16]).await;
}

#[tokio::test]
async fn a_write_refused_by_close_does_not_lose_deferred_replies() {
    let (conn, _writes, mut peer) = counted_pair().await;
    send_burst(&mut peer, 2).await;
    let (message_type, data) = conn.read_message().await.unwrap();
    conn.write_message(message_type, &data).await.unwrap();
    // A writer that finds the connection closing (close() has begun, not yet taken the
    // wire) is refused, and must leave the deferred reply for close() to send.
    conn.handle.shared().closed.cancel();
    let err = conn
        .write_message(MessageType::Binary, b"late")
        .await
        .unwrap_err();
    assert!(err.is_local_closed(), "{err}");
    conn.close().await.unwrap();
    expect_binary(&mut peer, &[0; 16]).await;
}
