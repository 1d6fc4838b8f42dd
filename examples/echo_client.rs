//! gorilla's echo client: connects to `ws://ADDR/echo`, sends the current time every second
//! and prints the replies. Ctrl-C closes the connection cleanly: it sends a close message
//! (1000) and waits, at most a second, for the server's close before exiting.
//!
//! ```text
//! cargo run --example echo -- --addr 127.0.0.1:8080         # the server, in one terminal
//! cargo run --example echo_client -- --addr 127.0.0.1:8080  # this client, in another
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use websocket::{CloseCode, Dialer, MessageType, format_close_message};

#[tokio::main]
async fn main() {
    let addr = gorilla_axum::addr_flag("127.0.0.1:8080");
    let url = format!("ws://{addr}/echo");
    println!("connecting to {url}");

    // websocket.DefaultDialer.Dial(u.String(), nil)
    let (conn, _) = match Dialer::default().dial(&url, None).await {
        Ok(dialed) => dialed,
        Err(err) => {
            eprintln!("dial: {err}");
            std::process::exit(1);
        }
    };
    let writer = conn.handle();

    // The reader: prints every message until the connection ends. Its end is gorilla's
    // `done` channel.
    let mut done = tokio::spawn(async move {
        loop {
            match conn.read_message().await {
                Ok((_, message)) => println!("recv: {}", String::from_utf8_lossy(&message)),
                Err(err) => {
                    println!("read: {err}");
                    return;
                }
            }
        }
    });

    // Listening from here on, once: a Ctrl-C while a write is in flight is not lost.
    let mut interrupt = std::pin::pin!(tokio::signal::ctrl_c());
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await; // the first tick is immediate; gorilla's ticker waits a period
    loop {
        tokio::select! {
            _ = &mut done => return,
            _ = ticker.tick() => {
                let now = utc_now();
                if let Err(err) = writer.write_message(MessageType::Text, now.as_bytes()).await {
                    println!("write: {err}");
                    return;
                }
            }
            _ = &mut interrupt => {
                println!("interrupt");
                // Cleanly close the connection by sending a close message and then waiting
                // (with timeout) for the server to close the connection.
                let close = format_close_message(CloseCode::NORMAL_CLOSURE, "");
                let deadline = Instant::now() + Duration::from_secs(1);
                if let Err(err) = writer
                    .write_control(MessageType::Close, &close, Some(deadline))
                    .await
                {
                    println!("write close: {err}");
                    return;
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), &mut done).await;
                return;
            }
        }
    }
}

/// The current time as `2006-01-02 15:04:05.000 UTC` (the message gorilla's client sends is
/// Go's `time.Time.String()`; the standard library has no calendar, so this converts days to
/// a civil date itself).
fn utc_now() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
