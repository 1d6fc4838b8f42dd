//! `futures` adapters: a [`Conn`]'s incoming messages as a [`Stream`], and its write side as a
//! [`Sink`], for code built on stream combinators (`forward`, `select`, `StreamExt::map`...).
//!
//! ```no_run
//! use futures_util::StreamExt;
//!
//! # async fn run(conn: websocket::Conn) {
//! // An echo server as one stream pipeline; it ends with the error that ended the reading,
//! // normally the peer's close.
//! let result = conn.messages().forward(conn.handle().into_sink()).await;
//! if let Err(err) = result {
//!     println!("connection ended: {err}");
//! }
//! # }
//! ```

use bytes::Bytes;
use futures_util::{Sink, Stream};

use crate::{Conn, ConnHandle, Error, MessageType};

impl Conn {
    /// The data messages the peer sends, as a [`Stream`] (each item is what
    /// [`read_message`](Conn::read_message) returns).
    ///
    /// When reading fails, including when the peer closes (the error carries its
    /// [`close_error`](Error::close_error)), the stream yields that error once and then ends.
    pub fn messages(&self) -> impl Stream<Item = Result<(MessageType, Bytes), Error>> + Send + '_ {
        futures_util::stream::unfold(false, move |failed| async move {
            if failed {
                return None;
            }
            let next = self.read_message().await;
            let failed = next.is_err();
            Some((next, failed))
        })
    }
}

impl ConnHandle {
    /// The write side as a [`Sink`] of messages: each item is written as by
    /// [`write_message`](ConnHandle::write_message).
    pub fn into_sink(self) -> impl Sink<(MessageType, Bytes), Error = Error> + Send {
        futures_util::sink::unfold(
            self,
            |handle, (message_type, data): (MessageType, Bytes)| async move {
                handle.write_message(message_type, &data).await?;
                Ok(handle)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::{
        WebSocketStream,
        tungstenite::{Message, protocol::Role},
    };

    use crate::Upgrader;

    #[tokio::test]
    async fn stream_forwarded_into_sink_echoes_until_close() {
        let (mut recorder, pipe) = compat::ResponseRecorder::with_hijack();
        let request = http::Request::get("/")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .body(())
            .unwrap();
        let conn = Upgrader::new()
            .upgrade(&mut recorder, &request, None)
            .await
            .unwrap();
        let mut client = WebSocketStream::from_raw_socket(pipe, Role::Client, None).await;
        let server = tokio::spawn(async move {
            let sink = conn.handle().into_sink();
            // The close ends the pipeline with the close error, forwarded to the sink.
            conn.messages().forward(sink).await
        });
        client.send(Message::text("one")).await.unwrap();
        client.send(Message::binary(vec![2u8])).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap(), Message::text("one"));
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::binary(vec![2u8])
        );
        client.send(Message::Close(None)).await.unwrap();
        let err = server.await.unwrap().unwrap_err();
        assert_eq!(
            err.close_error().map(|c| c.code),
            Some(crate::CloseCode::NO_STATUS_RECEIVED)
        );
    }
}
