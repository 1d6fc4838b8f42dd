//! The chat demo over real loopback sockets, with tokio-tungstenite as the browser.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use gorilla_axum::chat::{self, Hub};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::frame::coding::CloseCode},
};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Everything in these tests finishes well within this, or has failed.
const LIMIT: Duration = Duration::from_secs(10);

async fn serve(config: chat::Config) -> (SocketAddr, Hub) {
    let hub = Hub::spawn();
    let app = chat::router(hub.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hub)
}

async fn connect(addr: SocketAddr) -> Client {
    let (ws, _) = connect_async(format!("ws://{addr}/ws")).await.unwrap();
    ws
}

/// Waits until the hub has `n` clients: a connection counts only once its handler has
/// registered it, a little after the client saw the handshake complete.
async fn wait_for_clients(hub: &Hub, n: usize) {
    let start = Instant::now();
    loop {
        let count = hub.client_count().await;
        if count == n {
            return;
        }
        assert!(
            start.elapsed() < LIMIT,
            "hub has {count} clients, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next data message, skipping pings and pongs.
async fn next_text(ws: &mut Client) -> String {
    loop {
        let message = tokio::time::timeout(LIMIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .expect("a valid message");
        match message {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn broadcasts_to_every_client() {
    let (addr, hub) = serve(chat::Config::default()).await;
    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;
    wait_for_clients(&hub, 2).await;

    // Newlines and surrounding spaces are cleaned as in gorilla.
    alice.send(Message::text("  hello\nbob ")).await.unwrap();
    assert_eq!(next_text(&mut alice).await, "hello bob");
    assert_eq!(next_text(&mut bob).await, "hello bob");

    bob.send(Message::text("hi alice")).await.unwrap();
    assert_eq!(next_text(&mut alice).await, "hi alice");
    assert_eq!(next_text(&mut bob).await, "hi alice");
}

#[tokio::test]
async fn a_client_that_leaves_is_unregistered() {
    let (addr, hub) = serve(chat::Config::default()).await;
    let mut alice = connect(addr).await;
    let mut bob = connect(addr).await;
    wait_for_clients(&hub, 2).await;

    bob.close(None).await.unwrap();
    wait_for_clients(&hub, 1).await;
    // A client that vanishes without a close message is noticed too.
    let carol = connect(addr).await;
    wait_for_clients(&hub, 2).await;
    drop(carol);
    wait_for_clients(&hub, 1).await;

    // The room still works for whoever is left.
    alice.send(Message::text("anyone?")).await.unwrap();
    assert_eq!(next_text(&mut alice).await, "anyone?");
}

#[tokio::test]
async fn an_oversize_message_closes_that_client_with_1009() {
    let config = chat::Config::default();
    let limit = config.max_message_size as usize;
    let (addr, hub) = serve(config).await;
    let mut alice = connect(addr).await;
    let mut mallory = connect(addr).await;
    wait_for_clients(&hub, 2).await;

    // Exactly the limit is fine.
    let just_right = "a".repeat(limit);
    mallory
        .send(Message::text(just_right.clone()))
        .await
        .unwrap();
    assert_eq!(next_text(&mut alice).await, just_right);
    assert_eq!(next_text(&mut mallory).await, just_right);

    mallory
        .send(Message::text("b".repeat(limit + 1)))
        .await
        .unwrap();
    let close = loop {
        match tokio::time::timeout(LIMIT, mallory.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close message, got {other:?}"),
        }
    };
    assert_eq!(
        close.expect("a close code").code,
        CloseCode::Size,
        "1009, message too big"
    );
    wait_for_clients(&hub, 1).await;

    // The others are not affected, and did not get the oversize message.
    alice.send(Message::text("still here")).await.unwrap();
    assert_eq!(next_text(&mut alice).await, "still here");
}

#[tokio::test]
async fn pings_keep_a_quiet_client_and_drop_a_silent_one() {
    let config = chat::Config {
        ping_period: Duration::from_millis(150),
        pong_wait: Duration::from_millis(600),
        ..chat::Config::default()
    };
    let (addr, hub) = serve(config).await;

    // tokio-tungstenite answers pings while it is being read: this client stays.
    let mut quiet = connect(addr).await;
    wait_for_clients(&hub, 1).await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        while let Some(Ok(message)) = quiet.next().await {
            if message.is_ping() {
                pings += 1;
                if pings == 6 {
                    break;
                }
            }
        }
        (pings, quiet)
    });
    let (pings, quiet) = tokio::time::timeout(LIMIT, reader).await.unwrap().unwrap();
    assert_eq!(pings, 6, "pinged every ping_period");
    // Six periods in, well past pong_wait: still registered, because it answered.
    assert_eq!(hub.client_count().await, 1);

    // Not reading means not answering pings: after pong_wait the server gives up on it.
    let _silent = quiet;
    let start = Instant::now();
    wait_for_clients(&hub, 0).await;
    assert!(start.elapsed() < Duration::from_secs(5));
}
