//! Connection behaviour over real loopback sockets, with tokio-tungstenite as the peer.

mod support;

use std::time::Duration;

use axum::{Router, routing::any};
use compat::{Body, ResponseWriter};
use futures_util::{SinkExt, StreamExt};
use http::Request;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use websocket::Upgrader;

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
