//! Connection behaviour over real loopback sockets, with tokio-tungstenite as the peer.

mod support;

use std::time::Duration;

use axum::{Router, routing::any};
use compat::{Body, ResponseWriter};
use futures_util::{SinkExt, StreamExt};
use http::Request;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use websocket::{MessageType, Upgrader};

const LIMIT: Duration = Duration::from_secs(20);

/// gorilla's streaming echo: each message is copied from `next_reader` into `next_writer`
/// while it arrives.
async fn stream_echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let upgrader = Upgrader::new();
    let Ok(conn) = upgrader.upgrade(w, &r, None).await else {
        return;
    };
    while let Ok((message_type, mut reader)) = conn.next_reader().await {
        let Ok(mut writer) = conn.next_writer(message_type).await else {
            return;
        };
        if tokio::io::copy(&mut reader, &mut writer).await.is_err() {
            return;
        }
        if writer.shutdown().await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_echo_of_a_16_mib_message_with_a_reading_peer() {
    let addr = support::serve(Router::new().route("/f", any(compat::handler(stream_echo)))).await;
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/f"))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let payload: Vec<u8> = (0..16u32 << 20).map(|i| (i % 253) as u8).collect();
    let expected = payload.clone();
    // The peer reads while it sends: a streaming echo answers before the message is complete.
    let sender = tokio::spawn(async move { tx.send(Message::binary(payload)).await.unwrap() });
    let echoed = tokio::time::timeout(LIMIT, rx.next())
        .await
        .expect("echo in time");
    sender.await.unwrap();
    let Some(Ok(Message::Binary(data))) = echoed else {
        panic!("binary echo expected, got {echoed:?}");
    };
    assert_eq!(data.len(), expected.len());
    assert!(data[..] == expected[..]);
}

/// gorilla's chat pattern: a read task and a write task on one connection at once.
async fn read_and_write_tasks(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let upgrader = Upgrader::new();
    let Ok(conn) = upgrader.upgrade(w, &r, None).await else {
        return;
    };
    let writer = conn.handle();
    let write_task = tokio::spawn(async move {
        for i in 0..200 {
            let line = format!("server {i}");
            if writer
                .write_message(MessageType::Text, line.as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    // Meanwhile this task reads; it reports what it saw once it has read 200 messages.
    let mut in_order = 0u32;
    for i in 0..200 {
        match conn.read_message().await {
            Ok((_, data)) if data == format!("client {i}").as_bytes() => in_order += 1,
            _ => break,
        }
    }
    let _ = write_task.await;
    let report = format!("read {in_order}");
    let _ = conn
        .write_message(MessageType::Text, report.as_bytes())
        .await;
    let _ = conn.read_message().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_task_and_a_write_task_share_one_conn() {
    let addr =
        support::serve(Router::new().route("/rw", any(compat::handler(read_and_write_tasks))))
            .await;
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/rw"))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let sender = tokio::spawn(async move {
        for i in 0..200 {
            tx.send(Message::text(format!("client {i}"))).await.unwrap();
        }
        tx
    });
    for i in 0..200 {
        let message = tokio::time::timeout(LIMIT, rx.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            message,
            Message::text(format!("server {i}")),
            "in order, none lost"
        );
    }
    let report = tokio::time::timeout(LIMIT, rx.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        report,
        Message::text("read 200"),
        "the read task saw every message in order"
    );
    let mut tx = sender.await.unwrap();
    tx.send(Message::Close(None)).await.unwrap();
}

/// gorilla's echo loop.
async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Ok(conn) = Upgrader::new().upgrade(w, &r, None).await else {
        return;
    };
    while let Ok((message_type, data)) = conn.read_message().await {
        if conn.write_message(message_type, &data).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_messages_are_all_echoed_in_order() {
    let addr = support::serve(Router::new().route("/echo", any(compat::handler(echo)))).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
        .await
        .unwrap();
    // Bursts of many small messages, so replies are coalesced on the server, with a large
    // one in between, which is never deferred.
    for round in 0..5u32 {
        for i in 0..300u32 {
            ws.feed(Message::binary((round * 1000 + i).to_be_bytes().to_vec()))
                .await
                .unwrap();
        }
        ws.feed(Message::binary(vec![round as u8; 100_000]))
            .await
            .unwrap();
        ws.flush().await.unwrap();
        for i in 0..300u32 {
            let got = tokio::time::timeout(LIMIT, ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(
                got,
                Message::binary((round * 1000 + i).to_be_bytes().to_vec())
            );
        }
        let big = tokio::time::timeout(LIMIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(big, Message::binary(vec![round as u8; 100_000]));
    }
    ws.close(None).await.unwrap();
}

/// Answers the first message of a burst, then waits without reading.
async fn answer_one_then_wait(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let Ok(conn) = Upgrader::new().upgrade(w, &r, None).await else {
        return;
    };
    if let Ok((message_type, data)) = conn.read_message().await {
        let _ = conn.write_message(message_type, &data).await;
    }
    tokio::time::sleep(LIMIT * 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_coalescing_held_back_is_sent_while_the_handler_waits() {
    let addr =
        support::serve(Router::new().route("/one", any(compat::handler(answer_one_then_wait))))
            .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/one"))
        .await
        .unwrap();
    // Both in one write: the server's reader holds the second when the first is answered.
    ws.feed(Message::text("first")).await.unwrap();
    ws.feed(Message::text("second")).await.unwrap();
    ws.flush().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .expect("the reply arrives while the handler sleeps")
        .unwrap()
        .unwrap();
    assert_eq!(got, Message::text("first"));
}
