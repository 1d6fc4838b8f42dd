//! gorilla's chat example on the new path: a [`Hub`] task owns the set of clients and
//! broadcasts every message it gets to all of them; each client has a read pump (the
//! handler's own task, reading messages into the hub) and a write pump (a second task,
//! writing the hub's messages and keepalive pings through a [`ConnHandle`]).
//!
//! As in gorilla:
//! - a client sends pings every [`ping_period`](Config::ping_period) and must see a pong
//!   within [`pong_wait`](Config::pong_wait), or the read fails and the client is dropped;
//! - each write must finish within [`write_wait`](Config::write_wait);
//! - a message larger than [`max_message_size`](Config::max_message_size) closes that client's
//!   connection with 1009 (message too big);
//! - a client whose bounded send queue is full when a message is broadcast is too slow: the
//!   hub drops it, its write pump sends a close message and the connection ends;
//! - queued messages are coalesced into one text message, separated by newlines (the page
//!   splits them again), so a busy room costs fewer frames.
//!
//! The handlers have the net/http shape and are mounted with [`compat::handler`]; see
//! `examples/chat.rs` for the server, [`router`] for the routes.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    routing::{any, get},
};
use bytes::Bytes;
use compat::{Body, BoxFuture, ResponseWriter};
use http::Request;
use tokio::{
    io::AsyncWriteExt,
    sync::{mpsc, oneshot},
};
use websocket::{CloseCode, Conn, ConnHandle, MessageType, Upgrader, is_unexpected_close_error};

/// The chat page served at `/`.
const HOME_HTML: &str = include_str!("../examples/assets/chat.html");

/// Timing and size limits of the chat server. [`Default`] has gorilla's values; tests use
/// shorter ones.
#[derive(Debug, Clone)]
pub struct Config {
    /// Time allowed to write a message to the peer (gorilla's `writeWait`, 10 s).
    pub write_wait: Duration,
    /// Time allowed to read the next pong message from the peer (gorilla's `pongWait`, 60 s).
    pub pong_wait: Duration,
    /// How often to ping the peer; must be less than `pong_wait` (gorilla's `pingPeriod`,
    /// 54 s).
    pub ping_period: Duration,
    /// The largest message a peer may send, in bytes (gorilla's `maxMessageSize`, 512).
    pub max_message_size: u64,
    /// How many outbound messages may wait for a client before it counts as too slow and is
    /// dropped (gorilla's `send` channel capacity, 256).
    pub send_queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        let pong_wait = Duration::from_secs(60);
        Config {
            write_wait: Duration::from_secs(10),
            pong_wait,
            ping_period: pong_wait * 9 / 10,
            max_message_size: 512,
            send_queue: 256,
        }
    }
}

/// Identifies a registered client inside the hub.
type ClientId = u64;

/// A client as the hub sees it: where to queue its outbound messages.
#[derive(Debug)]
struct Client {
    id: ClientId,
    send: mpsc::Sender<Bytes>,
}

/// The hub: a task that owns the set of connected clients and broadcasts messages to them
/// (gorilla's `Hub`). This is the cloneable handle to it, holding the sending ends of its
/// register, unregister and broadcast channels.
///
/// The task ends once every handle is gone (the router and every connected client hold one).
#[derive(Debug, Clone)]
pub struct Hub {
    register: mpsc::Sender<Client>,
    unregister: mpsc::Sender<ClientId>,
    broadcast: mpsc::Sender<Bytes>,
    count: mpsc::Sender<oneshot::Sender<usize>>,
    next_id: Arc<AtomicU64>,
}

/// The receiving ends, owned by the hub task.
struct HubTask {
    register: mpsc::Receiver<Client>,
    unregister: mpsc::Receiver<ClientId>,
    broadcast: mpsc::Receiver<Bytes>,
    count: mpsc::Receiver<oneshot::Sender<usize>>,
    clients: HashMap<ClientId, mpsc::Sender<Bytes>>,
}

/// Capacity of the hub's own channels. gorilla's are unbuffered; a small buffer keeps the
/// same backpressure (a busy hub slows the read pumps down) with fewer task switches.
const HUB_QUEUE: usize = 64;

impl Hub {
    /// Starts a hub task on the current tokio runtime (gorilla's `newHub` + `go hub.run()`).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn() -> Hub {
        let (register_tx, register) = mpsc::channel(HUB_QUEUE);
        let (unregister_tx, unregister) = mpsc::channel(HUB_QUEUE);
        let (broadcast_tx, broadcast) = mpsc::channel(HUB_QUEUE);
        let (count_tx, count) = mpsc::channel(HUB_QUEUE);
        let task = HubTask {
            register,
            unregister,
            broadcast,
            count,
            clients: HashMap::new(),
        };
        tokio::spawn(task.run());
        Hub {
            register: register_tx,
            unregister: unregister_tx,
            broadcast: broadcast_tx,
            count: count_tx,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// How many clients are registered right now (0 if the hub task has ended). The answer
    /// reflects every register and unregister sent before the call.
    pub async fn client_count(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.count.send(tx).await.is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// Sends `message` to every registered client.
    pub async fn broadcast(&self, message: Bytes) {
        // Fails only once the hub task is gone, and then there is no one to send to.
        let _ = self.broadcast.send(message).await;
    }

    /// Registers a new client with a send queue of `capacity` messages.
    async fn register(&self, capacity: usize) -> (ClientId, mpsc::Receiver<Bytes>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (send, receive) = mpsc::channel(capacity.max(1));
        // If the hub is gone, `send` is dropped here and the write pump ends at once.
        let _ = self.register.send(Client { id, send }).await;
        (id, receive)
    }

    async fn unregister(&self, id: ClientId) {
        let _ = self.unregister.send(id).await;
    }
}

impl HubTask {
    async fn run(mut self) {
        loop {
            // `biased`: a registration queued before a message is handled before it, so a
            // client that has connected sees every message sent after it connected; the
            // count query comes last, so its answer reflects everything sent before it.
            tokio::select! {
                biased;
                client = self.register.recv() => match client {
                    Some(client) => {
                        self.clients.insert(client.id, client.send);
                    }
                    // Every `Hub` handle is gone.
                    None => return,
                },
                Some(id) = self.unregister.recv() => {
                    // Dropping the sender ends the client's write pump (gorilla closes
                    // `client.send`).
                    self.clients.remove(&id);
                }
                Some(message) = self.broadcast.recv() => self.broadcast(message),
                Some(reply) = self.count.recv() => {
                    let _ = reply.send(self.clients.len());
                }
            }
        }
    }

    fn broadcast(&mut self, message: Bytes) {
        self.clients
            .retain(|id, send| match send.try_send(message.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Too slow to keep up: drop it rather than let it hold everyone up.
                    tracing::info!(client = id, "chat: send queue full, dropping client");
                    false
                }
                // Its write pump has ended; the read pump's unregister is on its way.
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }
}

/// The chat server's routes: the page at `/` and the WebSocket endpoint at `/ws`, with the
/// handlers mounted through [`compat::handler`]. Clients join `hub`.
pub fn router(hub: Hub, config: Config) -> Router {
    let serve_ws = ServeWs {
        hub,
        config: Arc::new(config),
        // gorilla's chat upgrader: small buffers, chat messages are short.
        upgrader: Upgrader::new()
            .read_buffer_size(1024)
            .write_buffer_size(1024),
    };
    Router::new()
        .route("/", get(compat::handler(serve_home)))
        // `any`, like Go's mux: the upgrader answers other methods itself.
        .route("/ws", any(compat::handler(serve_ws)))
}

/// Serves the chat page (gorilla's `serveHome`).
async fn serve_home(w: &mut dyn ResponseWriter, _r: Request<Body>) {
    crate::write_html(w, HOME_HTML).await;
}

/// The `/ws` handler (gorilla's `serveWs`), a struct because it carries the hub.
struct ServeWs {
    hub: Hub,
    config: Arc<Config>,
    upgrader: Upgrader,
}

impl compat::Handler for ServeWs {
    fn serve_http<'a>(&'a self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> BoxFuture<'a> {
        Box::pin(self.serve_ws(w, r))
    }
}

impl ServeWs {
    async fn serve_ws(&self, w: &mut dyn ResponseWriter, r: Request<Body>) {
        let conn = match self.upgrader.upgrade(w, &r, None).await {
            Ok(conn) => conn,
            Err(err) => {
                // The client already got an error response.
                tracing::info!("chat: upgrade: {err}");
                return;
            }
        };
        let (id, send) = self.hub.register(self.config.send_queue).await;
        tokio::spawn(write_pump(conn.handle(), send, self.config.clone()));
        // gorilla starts the read pump in a goroutine too; the handler already runs in a task
        // of its own, so it simply becomes the read pump.
        read_pump(&conn, &self.hub, id, &self.config).await;
    }
}

/// Pumps messages from the connection to the hub (gorilla's `readPump`). The only reader of
/// the connection.
async fn read_pump(conn: &Conn, hub: &Hub, id: ClientId, config: &Config) {
    conn.set_read_limit(config.max_message_size);
    conn.set_read_deadline(Some(Instant::now() + config.pong_wait));
    let handle = conn.handle();
    let pong_wait = config.pong_wait;
    conn.set_pong_handler(Some(move |_data: Bytes| {
        handle.set_read_deadline(Some(Instant::now() + pong_wait));
        async { Ok(()) }
    }));
    loop {
        match conn.read_message().await {
            Ok((_, message)) => hub.broadcast(clean_message(&message)).await,
            Err(err) => {
                if is_unexpected_close_error(
                    &err,
                    &[CloseCode::GOING_AWAY, CloseCode::ABNORMAL_CLOSURE],
                ) {
                    tracing::warn!(client = id, "chat: error: {err}");
                } else {
                    tracing::debug!(client = id, "chat: read: {err}");
                }
                break;
            }
        }
    }
    hub.unregister(id).await;
    let _ = conn.close().await;
}

/// Pumps messages from the hub to the connection, and pings (gorilla's `writePump`). The
/// only writer of data messages.
async fn write_pump(conn: ConnHandle, mut send: mpsc::Receiver<Bytes>, config: Arc<Config>) {
    let first_ping = tokio::time::Instant::now() + config.ping_period;
    let mut ping = tokio::time::interval_at(first_ping, config.ping_period);
    loop {
        // Both branches are cancel-safe: losing the race loses nothing.
        tokio::select! {
            message = send.recv() => {
                conn.set_write_deadline(Some(Instant::now() + config.write_wait));
                let Some(message) = message else {
                    // The hub dropped this client: say goodbye (best effort) and stop.
                    let _ = conn.write_message(MessageType::Close, &[]).await;
                    break;
                };
                if let Err(err) = write_batch(&conn, message, &mut send).await {
                    tracing::debug!("chat: write: {err}");
                    break;
                }
            }
            _ = ping.tick() => {
                conn.set_write_deadline(Some(Instant::now() + config.write_wait));
                if conn.write_message(MessageType::Ping, &[]).await.is_err() {
                    break;
                }
            }
        }
    }
    // Ends the read pump too, which then unregisters the client.
    let _ = conn.close().await;
}

/// Writes `first` and the messages already queued behind it as one text message, one per
/// line, as gorilla's write pump does.
async fn write_batch(
    conn: &ConnHandle,
    first: Bytes,
    send: &mut mpsc::Receiver<Bytes>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut w = conn.next_writer(MessageType::Text).await?;
    w.write_all(&first).await?;
    // Only what is queued now: a steady stream must not keep this message open forever.
    for _ in 0..send.len() {
        let Ok(message) = send.try_recv() else { break };
        w.write_all(b"\n").await?;
        w.write_all(&message).await?;
    }
    // Shutting the writer down sends the final frame.
    w.shutdown().await?;
    Ok(())
}

/// Turns a peer's message into a chat line: newlines become spaces (the page splits
/// batches on newlines) and surrounding whitespace goes, as in gorilla. Bytes that are not
/// UTF-8 are replaced: everything is re-sent as text, and browsers fail a connection on an
/// invalid text message.
fn clean_message(message: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(message).replace('\n', " ");
    Bytes::from(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cleaned_like_gorillas() {
        assert_eq!(clean_message(b"  a\nb \n"), "a b");
        assert_eq!(clean_message(b"\xffok"), "\u{fffd}ok");
    }

    #[tokio::test]
    async fn hub_broadcasts_and_unregisters() {
        let hub = Hub::spawn();
        let (a, mut a_rx) = hub.register(4).await;
        let (_b, mut b_rx) = hub.register(4).await;
        assert_eq!(hub.client_count().await, 2);
        hub.broadcast(Bytes::from_static(b"hi")).await;
        assert_eq!(a_rx.recv().await.unwrap(), "hi");
        assert_eq!(b_rx.recv().await.unwrap(), "hi");
        hub.unregister(a).await;
        assert_eq!(hub.client_count().await, 1);
        // The hub dropped a's queue: its write pump would see the end.
        assert!(a_rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn hub_drops_a_client_whose_queue_is_full() {
        let hub = Hub::spawn();
        let (_slow, mut slow_rx) = hub.register(1).await;
        let (_fast, mut fast_rx) = hub.register(8).await;
        hub.broadcast(Bytes::from_static(b"one")).await;
        hub.broadcast(Bytes::from_static(b"two")).await;
        assert_eq!(hub.client_count().await, 1);
        // The slow client still gets what was queued before it was dropped, then the end.
        assert_eq!(slow_rx.recv().await.unwrap(), "one");
        assert!(slow_rx.recv().await.is_none());
        assert_eq!(fast_rx.recv().await.unwrap(), "one");
        assert_eq!(fast_rx.recv().await.unwrap(), "two");
    }
}
