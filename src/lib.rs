//! Shared pieces of the examples and cross-crate tests: Go-style handlers and gorilla-style
//! WebSockets on axum. The libraries themselves live in `crates/`.

use std::net::SocketAddr;

pub mod chat;
pub mod cli;
pub mod command;
pub mod echo;
pub mod echo_legacy;
pub mod filewatch;
// MIGRATION.md's Rust blocks, compiled as doctests.
#[cfg(doctest)]
mod migration_guide;

/// Parses `--addr HOST:PORT` (or `--addr=HOST:PORT`) from the command line, like the Go
/// examples' `flag.String("addr", ...)`; `default` when absent.
///
/// Exits with a usage message on anything it does not understand.
pub fn addr_flag(default: &str) -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut addr = default.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" | "-addr" => match args.next() {
                Some(value) => addr = value,
                None => usage(default),
            },
            _ => match arg
                .strip_prefix("--addr=")
                .or_else(|| arg.strip_prefix("-addr="))
            {
                Some(value) => addr = value.to_owned(),
                None => usage(default),
            },
        }
    }
    addr.parse().unwrap_or_else(|_| {
        eprintln!("invalid --addr {addr:?}: expected HOST:PORT, e.g. {default}");
        std::process::exit(2)
    })
}

fn usage(default: &str) -> ! {
    eprintln!("usage: [--addr HOST:PORT] (default {default})");
    std::process::exit(2)
}

/// Writes `page` as the whole response, typed `text/html; charset=utf-8`: the demos' page
/// handlers. A write error means the browser left; there is no one to tell.
pub async fn write_html(w: &mut dyn compat::ResponseWriter, page: &str) {
    w.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let _ = tokio::io::AsyncWriteExt::write_all(w, page.as_bytes()).await;
}

/// The echo example's browser client (the page gorilla's and Hertz's echo examples serve),
/// pointed at `ws_url`.
///
/// The URL is embedded as a JSON string, so a hostile `Host` header cannot break out of the
/// script (Go's `html/template` escapes the same way in a script context).
pub fn echo_home_page(ws_url: &str) -> String {
    let url = serde_json::to_string(ws_url).expect("a string serializes");
    // `</` inside the JSON string must not end the script element.
    let url = url.replace("</", "<\\/");
    ECHO_HOME.replace("{{WS_URL}}", &url)
}

const ECHO_HOME: &str = r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>WebSocket echo</title>
<style>
  body { font-family: sans-serif; display: flex; gap: 2em; }
  #output { max-height: 70vh; overflow-y: auto; min-width: 20em; }
  #output div { font-family: monospace; }
</style>
</head>
<body>
<div>
  <p>Click "Open" to connect to the server, "Send" to send a message and
  "Close" to close the connection. You can change the message and send it
  several times.</p>
  <form>
    <button id="open" type="button">Open</button>
    <button id="close" type="button">Close</button>
    <p><input id="input" type="text" value="Hello world!">
    <button id="send" type="button">Send</button></p>
  </form>
</div>
<div id="output"></div>
<script>
const wsURL = {{WS_URL}};
let ws = null;
const output = document.getElementById("output");
function print(message) {
  const line = document.createElement("div");
  line.textContent = message;
  output.appendChild(line);
  output.scrollTop = output.scrollHeight;
}
document.getElementById("open").onclick = () => {
  if (ws) { return; }
  ws = new WebSocket(wsURL);
  ws.onopen = () => print("OPEN");
  ws.onclose = (evt) => { print("CLOSE " + evt.code); ws = null; };
  ws.onmessage = (evt) => print("RESPONSE: " + evt.data);
  ws.onerror = () => print("ERROR");
};
document.getElementById("send").onclick = () => {
  if (!ws) { return; }
  const message = document.getElementById("input").value;
  print("SEND: " + message);
  ws.send(message);
};
document.getElementById("close").onclick = () => {
  if (!ws) { return; }
  ws.close();
};
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_escapes_the_url() {
        let page = echo_home_page("ws://evil\"</script><script>alert(1)//");
        assert!(!page.contains("</script><script>"));
        assert!(page.contains(r#"const wsURL = "ws://evil\"<\/script>"#));
    }
}
