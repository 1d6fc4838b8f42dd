//! Mounting Go-style handlers on axum: `get`, `any`, `route_service`, router state, a
//! hand-written `Handler`, and the `HandlerService` called directly as a tower `Service`.

mod support;

use axum::{
    Router,
    routing::{any, get},
};
use bytes::Bytes;
use compat::{Body, BoxFuture, Handler, ResponseWriter};
use http::Request;
use http_body_util::{BodyExt, Full};
use support::{Client, fetch_text, serve, within};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

async fn method_and_path(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let line = format!("{} {}", r.method(), r.uri().path());
    w.write_all(line.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_mounts_a_handler_for_get_only() {
    let addr = serve(Router::new().route("/g", get(compat::handler(method_and_path)))).await;
    let (head, body) = fetch_text(addr, "GET", "/g").await;
    assert_eq!(head.status, 200);
    assert_eq!(body, "GET /g");
    // axum's method router still applies.
    let (head, _) = fetch_text(addr, "POST", "/g").await;
    assert_eq!(head.status, 405, "{}", head.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_mounts_a_handler_for_every_method() {
    let addr = serve(Router::new().route("/a", any(compat::handler(method_and_path)))).await;
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let (head, body) = fetch_text(addr, method, "/a").await;
        assert_eq!(head.status, 200, "{method}");
        assert_eq!(body, format!("{method} /a"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_service_mounts_a_handler_as_a_tower_service() {
    let app = Router::new()
        .route_service("/svc", compat::handler(method_and_path))
        .fallback_service(compat::handler(method_and_path));
    let addr = serve(app).await;
    let (head, body) = fetch_text(addr, "PUT", "/svc").await;
    assert_eq!(head.status, 200);
    assert_eq!(body, "PUT /svc");
    let (head, body) = fetch_text(addr, "GET", "/anything/else").await;
    assert_eq!(head.status, 200);
    assert_eq!(body, "GET /anything/else");
}

#[derive(Clone)]
struct AppState {
    name: &'static str,
}

async fn who(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let reply = match r.extensions().get::<AppState>() {
        Some(state) => format!("state={}", state.name),
        None => "no state".to_owned(),
    };
    w.write_all(reply.as_bytes()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_state_reaches_the_handler_through_extensions() {
    let app = Router::new()
        .route("/", get(compat::handler(who)))
        .with_state(AppState { name: "demo" });
    let addr = serve(app).await;
    let (head, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(head.status, 200);
    assert_eq!(body, "state=demo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_state_is_not_inserted() {
    let addr = serve(Router::new().route("/", get(compat::handler(who)))).await;
    let (_, body) = fetch_text(addr, "GET", "/").await;
    assert_eq!(body, "no state");
}

struct Greeter {
    greeting: String,
}

impl Handler for Greeter {
    fn serve_http<'a>(&'a self, w: &'a mut dyn ResponseWriter, r: Request<Body>) -> BoxFuture<'a> {
        Box::pin(async move {
            let line = format!("{} {}", self.greeting, r.uri().path());
            let _ = w.write_all(line.as_bytes()).await;
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_handler_carries_its_own_state() {
    let greeter = Greeter {
        greeting: "hi".into(),
    };
    let addr = serve(Router::new().route("/x", get(compat::handler(greeter)))).await;
    let (_, body) = fetch_text(addr, "GET", "/x").await;
    assert_eq!(body, "hi /x");
}

async fn echo_body(w: &mut dyn ResponseWriter, r: Request<Body>) {
    let method = r.method().clone();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    w.headers_mut()
        .insert("x-method", method.as_str().parse().unwrap());
    w.write_all(&body).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_service_is_callable_directly_as_a_tower_service() {
    let svc = compat::handler(echo_body);
    // A body type other than axum's: the `Service` impl is generic over it.
    let req = Request::post("/direct")
        .body(Full::new(Bytes::from_static(b"through tower")))
        .unwrap();
    let res = within("oneshot", svc.clone().oneshot(req)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-method"], "POST");
    let body = within("collect", res.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"through tower");

    // And the same service still serves over a socket.
    let addr = serve(Router::new().route_service("/direct", svc)).await;
    let mut client = Client::connect(addr).await;
    client
        .send("POST /direct HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .await;
    let head = client.read_head().await;
    assert_eq!(head.header("x-method"), Some("POST"));
    assert_eq!(client.read_body(&head).await, b"hello");
}
