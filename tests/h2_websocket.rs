//! WebSockets over HTTP/2 (RFC 8441): the same `Upgrader::upgrade` call answers an extended
//! CONNECT with `200` and hands the handler a `Conn` on the HTTP/2 stream.

use std::time::Duration;

use axum::{Router, routing::any};
use bytes::Bytes;
use compat::{Body, ResponseWriter};
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, protocol::Role},
};
use websocket::Upgrader;

async fn echo(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let upgrader = Upgrader::new();
    let Ok(conn) = upgrader.upgrade(w, &r, None).await else {
        return;
    };
    while let Ok((message_type, data)) = conn.read_message().await {
        if conn.write_message(message_type, &data).await.is_err() {
            break;
        }
    }
}

#[tokio::test]
async fn extended_connect_upgrades_and_echoes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/echo", any(compat::handler(echo)));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);

    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://{addr}/echo"))
        .header("sec-websocket-version", "13")
        .body(Empty::<Bytes>::new())
        .unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let response = tokio::time::timeout(Duration::from_secs(5), sender.send_request(request))
        .await
        .expect("response in time")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !response.headers().contains_key("sec-websocket-accept"),
        "RFC 8441 has no accept key"
    );

    let stream = hyper::upgrade::on(response).await.unwrap();
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(stream), Role::Client, None).await;
    for message in [Message::text("over h2"), Message::binary(vec![1u8; 70_000])] {
        ws.send(message.clone()).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("echo in time")
            .unwrap()
            .unwrap();
        assert_eq!(echoed, message);
    }
    ws.close(None).await.unwrap();
}
