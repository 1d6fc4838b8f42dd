//! A client for the Autobahn TestSuite's fuzzing server: the client-side counterpart of the
//! `autobahn` example. It asks the server how many cases there are (`/getCaseCount`), runs
//! each one (`/runCase?case=N&agent=NAME`: echo every message back until the connection
//! ends), then asks for the reports to be written (`/updateReports?agent=NAME`).
//!
//! ```text
//! kosoku -m fuzzingserver 127.0.0.1:9001 -o target/autobahn/client &
//! cargo run --release --example autobahn_client -- --addr 127.0.0.1:9001 [--parallel 2]
//! ```
//! `scripts/autobahn.sh --client` runs both and gates the report.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Instant,
};

use gorilla_axum::cli::Flags;
use websocket::{CompressionOptions, Dialer, Error};

/// The name the reports are filed under.
const AGENT: &str = "gorilla-axum";

/// The suite's largest messages are 16 MiB (cases 9.*); the limit only guards against a
/// runaway server, so it is well above that.
const READ_LIMIT: u64 = 256 << 20;

#[tokio::main]
async fn main() {
    let flags = Flags::new("127.0.0.1:9001")
        .value("parallel")
        .parse_or_exit("autobahn_client [--addr HOST:PORT] [--parallel N]");
    let addr = flags.addr;
    let parallel: u32 = match flags.get("parallel").map(str::parse) {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("--parallel: expected a positive number");
            std::process::exit(2);
        }
    };
    // Compression on, as the `autobahn` server example: cases 12.* and 13.* need it.
    let dialer = Dialer::new()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .enable_compression(true)
        .compression_options(CompressionOptions {
            // Cases 13.2, 13.5 and 13.6 answer with `client_no_context_takeover`, which the
            // suite's server only sends to a client that offered it (RFC 7692 lets it send it
            // to any). Offering it means this client resets its compressor after every
            // message; the server side still keeps its context, so inflating with context
            // takeover is tested here, and deflating with it by the server-side run.
            client_context_takeover: false,
            // Compress every message, however small. kosoku 0.1.0's fuzzingserver fails a
            // case with a Python TypeError ("Strings must be encoded before hashing") when a
            // compressed connection carries an uncompressed message, which RFC 7692 allows
            // and the default threshold produces for short messages (cases 12.*.1 and
            // 13.*.1 echo 16-byte messages). Its fuzzingclient, which tests the server
            // side, handles them.
            threshold: 0,
            ..CompressionOptions::default()
        });

    let count = match case_count(&dialer, addr).await {
        Ok(count) => count,
        Err(err) => {
            eprintln!("getCaseCount: {err}");
            std::process::exit(1);
        }
    };
    println!("{count} cases, {parallel} at a time");
    let started = Instant::now();
    // Cases are independent connections, so `parallel` workers take the next case number
    // until none is left (the fuzzing server runs each case on its own connection).
    let next = Arc::new(AtomicU32::new(1));
    let failed_dials = Arc::new(AtomicU32::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        let (dialer, next, failed_dials) = (dialer.clone(), next.clone(), failed_dials.clone());
        workers.spawn(async move {
            loop {
                let case = next.fetch_add(1, Ordering::Relaxed);
                if case > count {
                    return;
                }
                let url = format!("ws://{addr}/runCase?case={case}&agent={AGENT}");
                match dialer.dial(&url, None).await {
                    Ok((conn, _)) => {
                        conn.set_read_limit(READ_LIMIT);
                        let err = echo(&conn).await;
                        println!("case {case}/{count}: {err}");
                    }
                    Err(err) => {
                        failed_dials.fetch_add(1, Ordering::Relaxed);
                        println!("case {case}/{count}: dial: {err}");
                    }
                }
            }
        });
    }
    workers.join_all().await;
    println!(
        "ran {count} cases in {:.1}s ({} failed to connect)",
        started.elapsed().as_secs_f64(),
        failed_dials.load(Ordering::Relaxed)
    );

    if let Err(err) = update_reports(&dialer, addr).await {
        eprintln!("updateReports: {err}");
        std::process::exit(1);
    }
}

/// gorilla's echo loop, until the first error (normally the server's close).
async fn echo(conn: &websocket::Conn) -> Error {
    loop {
        let (message_type, data) = match conn.read_message().await {
            Ok(message) => message,
            Err(err) => return err,
        };
        if let Err(err) = conn.write_message(message_type, &data).await {
            return err;
        }
    }
}

/// `/getCaseCount` answers with one text message holding the number.
async fn case_count(dialer: &Dialer, addr: SocketAddr) -> Result<u32, Box<dyn std::error::Error>> {
    let (conn, _) = dialer
        .dial(&format!("ws://{addr}/getCaseCount"), None)
        .await?;
    let (_, data) = conn.read_message().await?;
    Ok(std::str::from_utf8(&data)?.trim().parse()?)
}

/// `/updateReports` writes the reports and closes; reading until then waits for it.
async fn update_reports(dialer: &Dialer, addr: SocketAddr) -> Result<(), Error> {
    let (conn, _) = dialer
        .dial(&format!("ws://{addr}/updateReports?agent={AGENT}"), None)
        .await?;
    while conn.read_message().await.is_ok() {}
    Ok(())
}
