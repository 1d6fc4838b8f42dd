//! The load client. Runs on a single-threaded tokio runtime (pin it to one core with
//! `taskset`), prints one JSON [`LoadResult`] line.
//!
//! ```text
//! bench-load ws        --addr A [--path /echo] --conns C --size S [--window W] [--raw]
//! bench-load handshake --addr A [--path /echo] --conns K [--raw]
//! bench-load http      --addr A [--path /plain] --conns C
//! bench-load idle      --addr A [--path /echo] --conns N
//! common: [--duration SECS] [--warmup SECS] [--server-pid PID]
//!         [--messages N]  fixed work: N messages, requests or handshakes per connection (or
//!                         loop), no warm-up; for profiling
//! ```
//!
//! `ws`: each of C connections keeps W messages of S bytes in flight (W = 1: ping-pong), masks
//! every frame with a fresh key, and checks every echo byte for byte (the first 8 payload bytes
//! carry a sequence number, so loss and reordering are caught). `--raw` sends the same framed
//! bytes to a plain TCP echo and reads the same number of bytes back.
//!
//! `handshake`: K loops of connect, upgrade, close handshake, wait for the server's FIN.
//! `--raw`: connect, send the request's bytes, read them back, close.
//!
//! `idle`: opens N connections (upgrade plus one 16-byte echo each), prints
//! `{"opened":N,"errors":E}`, holds them until a line arrives on stdin, then exits.

use std::{
    collections::VecDeque,
    io,
    net::SocketAddr,
    rc::Rc,
    sync::atomic::{AtomicU8, Ordering},
    time::{Duration, Instant},
};

use bench::{
    LoadResult, Samples, cpu_seconds, machine_busy_seconds, own_cpu_seconds,
    proto::{self, Event, MessageParser},
};
use bytes::{Buf, BytesMut};
use rand::{SeedableRng, rngs::SmallRng};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;
static PHASE: AtomicU8 = AtomicU8::new(WARMUP);

fn phase() -> u8 {
    PHASE.load(Ordering::Relaxed)
}

#[derive(Debug, Clone)]
struct Opts {
    mode: String,
    addr: SocketAddr,
    path: String,
    conns: usize,
    size: usize,
    window: usize,
    raw: bool,
    duration: f64,
    warmup: f64,
    server_pid: Option<u32>,
    /// Fixed work instead of a timed run: messages (or requests) per connection.
    messages: u64,
}

fn parse_args() -> Opts {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let mut o = Opts {
        path: if mode == "http" { "/plain" } else { "/echo" }.to_owned(),
        mode,
        addr: "127.0.0.1:8080".parse().unwrap(),
        conns: 1,
        size: 16,
        window: 1,
        raw: false,
        duration: 3.0,
        warmup: 1.0,
        server_pid: None,
        messages: 0,
    };
    while let Some(flag) = args.next() {
        if flag == "--raw" {
            o.raw = true;
            continue;
        }
        let value = args
            .next()
            .unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => o.addr = value.parse().unwrap_or_else(|_| die("bad --addr")),
            "--path" => o.path = value.clone(),
            "--conns" => o.conns = num(&flag, &value),
            "--size" => o.size = num(&flag, &value),
            "--window" => o.window = num(&flag, &value),
            "--duration" => o.duration = num(&flag, &value),
            "--warmup" => o.warmup = num(&flag, &value),
            "--messages" => o.messages = num(&flag, &value),
            "--server-pid" => o.server_pid = Some(num(&flag, &value)),
            _ => die(&format!("unknown flag {flag}")),
        }
    }
    o
}

fn num<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| die(&format!("bad value for {flag}: {value:?}")))
}

fn die(msg: &str) -> ! {
    eprintln!("bench-load: {msg}");
    std::process::exit(2)
}

fn main() {
    let opts = parse_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        match opts.mode.as_str() {
            "ws" | "handshake" | "http" => {
                let result = run_timed(opts).await;
                println!("{}", serde_json::to_string(&result).unwrap());
            }
            "idle" => idle(opts).await,
            other => die(&format!(
                "unknown mode {other:?}: ws, handshake, http or idle"
            )),
        }
    });
}

/// What one connection (or handshake loop) measured.
#[derive(Default)]
struct Tally {
    ops: u64,
    bytes: u64,
    errors: u64,
    samples: Samples,
}

/// Runs the workers, switching phases on the clock: warmup, measure, stop.
async fn run_timed(opts: Opts) -> LoadResult {
    let opts = Rc::new(opts);
    let pattern: Rc<Vec<u8>> = Rc::new((0..opts.size).map(|i| (i * 131 + 7) as u8).collect());
    let mut workers = JoinSet::new();
    for i in 0..opts.conns {
        let (opts, pattern) = (opts.clone(), pattern.clone());
        workers.spawn_local(async move {
            let mut tally = Tally::default();
            let result = match opts.mode.as_str() {
                "ws" => ws_conn(&opts, &pattern, i as u64, &mut tally).await,
                "handshake" => handshake_loop(&opts, i as u64, &mut tally).await,
                _ => http_conn(&opts, &mut tally).await,
            };
            if let Err(e) = result {
                if phase() != STOP || tally.errors == 0 {
                    eprintln!("bench-load: connection {i}: {e}");
                }
                tally.errors += 1;
            }
            tally
        });
    }
    if opts.messages == 0 {
        tokio::time::sleep(Duration::from_secs_f64(opts.warmup)).await;
    }
    let server0 = opts.server_pid.and_then(cpu_seconds);
    let client0 = own_cpu_seconds();
    let machine0 = machine_busy_seconds();
    let t0 = Instant::now();
    PHASE.store(MEASURE, Ordering::Relaxed);
    let mut tallies = Vec::new();
    if opts.messages == 0 {
        tokio::time::sleep(Duration::from_secs_f64(opts.duration)).await;
        PHASE.store(STOP, Ordering::Relaxed);
    } else {
        while let Some(t) = workers.join_next().await {
            tallies.push(t.expect("worker panicked"));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let server1 = opts.server_pid.and_then(cpu_seconds);
    let client1 = own_cpu_seconds();
    let machine1 = machine_busy_seconds();
    PHASE.store(STOP, Ordering::Relaxed);
    while let Some(t) = workers.join_next().await {
        tallies.push(t.expect("worker panicked"));
    }

    let mut total = Tally::default();
    for t in tallies {
        total.ops += t.ops;
        total.bytes += t.bytes;
        total.errors += t.errors;
        total.samples.extend(t.samples);
    }
    LoadResult {
        ops: total.ops,
        bytes: total.bytes,
        secs,
        p50_us: total.samples.quantile_us(0.50),
        p99_us: total.samples.quantile_us(0.99),
        server_cpu_s: server0.zip(server1).map(|(a, b)| b - a),
        client_cpu_s: client1 - client0,
        errors: total.errors,
        machine_busy_s: machine0.zip(machine1).map(|(a, b)| b - a),
    }
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Upgrades `stream`; bytes the server sent after its response head stay in `rbuf`.
async fn upgrade(
    stream: &mut TcpStream,
    opts: &Opts,
    rng: &mut SmallRng,
    rbuf: &mut BytesMut,
) -> io::Result<()> {
    let key = proto::new_key(rng);
    let request = proto::handshake_request(&opts.addr.to_string(), &opts.path, &key);
    stream.write_all(request.as_bytes()).await?;
    loop {
        if let Some(end) = proto::head_end(rbuf) {
            proto::check_handshake_response(&rbuf[..end], &key)?;
            rbuf.advance(end);
            return Ok(());
        }
        if rbuf.len() > 16 * 1024 {
            return Err(proto::bad("response head too long"));
        }
        read_some(stream, rbuf, 4096).await?;
    }
}

async fn read_some(stream: &mut TcpStream, rbuf: &mut BytesMut, want: usize) -> io::Result<()> {
    if rbuf.capacity() - rbuf.len() < want {
        rbuf.reserve(want);
    }
    if stream.read_buf(rbuf).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn check_payload(got: &[u8], pattern: &[u8], seq: u64) -> io::Result<()> {
    let ok = got.len() == pattern.len()
        && if got.len() >= 8 {
            got[..8] == seq.to_le_bytes() && got[8..] == pattern[8..]
        } else {
            got == pattern
        };
    if ok {
        Ok(())
    } else {
        Err(proto::bad(&format!(
            "echo of message {seq} does not match ({} bytes, expected {})",
            got.len(),
            pattern.len()
        )))
    }
}

async fn ws_conn(opts: &Opts, pattern: &[u8], id: u64, tally: &mut Tally) -> io::Result<()> {
    let mut rng = SmallRng::seed_from_u64(0x5eed ^ id);
    let mut stream = connect(opts.addr).await?;
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    if !opts.raw {
        upgrade(&mut stream, opts, &mut rng, &mut rbuf).await?;
    }
    let size = opts.size;
    let frame_len = proto::masked_frame_len(size);
    let window = opts.window.max(1);
    let mut parser = MessageParser::default();
    let header = proto::masked_header(size);
    let mut wbuf = Vec::with_capacity(window * frame_len);
    // Send time and mask key of every message in flight (the raw echo returns masked bytes).
    let mut in_flight: VecDeque<(Instant, [u8; 4])> = VecDeque::with_capacity(window);
    let (mut next_seq, mut expect_seq) = (0u64, 0u64);
    let mut stopping = false;
    loop {
        if !stopping {
            let now = Instant::now();
            while in_flight.len() < window {
                if opts.messages > 0 && next_seq == opts.messages {
                    stopping = true;
                    break;
                }
                let key = proto::put_pattern_frame(&mut wbuf, pattern, next_seq, &mut rng);
                in_flight.push_back((now, key));
                next_seq += 1;
            }
        }
        if !wbuf.is_empty() {
            stream.write_all(&wbuf).await?;
            wbuf.clear();
        }
        if in_flight.is_empty() {
            break;
        }
        let want = (in_flight.len() * (size + 14)).clamp(64 * 1024, 4 << 20);
        read_some(&mut stream, &mut rbuf, want).await?;
        let measuring = phase() == MEASURE;
        loop {
            let &(sent, key) = in_flight.front().expect("a message in flight");
            if opts.raw {
                // The echo of the frame as sent: header, key, masked payload.
                if rbuf.len() < frame_len {
                    break;
                }
                let echoed = rbuf.split_to(frame_len);
                let header_len = frame_len - size;
                if echoed[..header.len()] != header[..]
                    || echoed[header_len - 4..header_len] != key
                    || !proto::masked_payload_matches(
                        &echoed[header_len..],
                        key,
                        pattern,
                        expect_seq,
                    )
                {
                    return Err(proto::bad("raw echo does not match"));
                }
            } else {
                match parser.next(&mut rbuf)? {
                    None => break,
                    Some(Event::Close) => return Err(proto::bad("server closed the connection")),
                    Some(Event::Message(m)) => check_payload(&m, pattern, expect_seq)?,
                }
            }
            in_flight.pop_front();
            expect_seq += 1;
            if measuring {
                tally.ops += 1;
                tally.bytes += size as u64;
                tally.samples.push(sent.elapsed());
            }
            if in_flight.is_empty() {
                break;
            }
        }
        if phase() == STOP {
            stopping = true;
        }
    }
    if !opts.raw {
        // Close handshake; the server's answer is not part of the measurement.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            close_handshake(&mut stream, &mut rng, &mut rbuf, &mut parser).await
        })
        .await;
    }
    Ok(())
}

/// Sends a close frame (1000), waits for the server's close frame and then its FIN.
async fn close_handshake(
    stream: &mut TcpStream,
    rng: &mut SmallRng,
    rbuf: &mut BytesMut,
    parser: &mut MessageParser,
) -> io::Result<()> {
    let mut frame = Vec::with_capacity(8);
    proto::put_masked_frame(&mut frame, proto::OP_CLOSE, &1000u16.to_be_bytes(), rng);
    stream.write_all(&frame).await?;
    loop {
        match parser.next(rbuf)? {
            Some(Event::Close) => break,
            Some(Event::Message(_)) => continue,
            None => read_some(stream, rbuf, 4096).await?,
        }
    }
    // The server closes the TCP connection after the close handshake (RFC 6455 7.1.1).
    rbuf.clear();
    match read_some(stream, rbuf, 4096).await {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(e),
        Ok(()) => Err(proto::bad("data after the close frame")),
    }
}

async fn handshake_loop(opts: &Opts, id: u64, tally: &mut Tally) -> io::Result<()> {
    let mut rng = SmallRng::seed_from_u64(0x4a4d ^ id);
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut done = 0u64;
    while phase() != STOP && (opts.messages == 0 || done < opts.messages) {
        done += 1;
        let start = Instant::now();
        rbuf.clear();
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            one_handshake(opts, &mut rng, &mut rbuf),
        )
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
        if phase() == MEASURE {
            match result {
                Ok(()) => {
                    tally.ops += 1;
                    tally.samples.push(start.elapsed());
                }
                Err(e) => {
                    if tally.errors == 0 {
                        eprintln!("bench-load: handshake: {e}");
                    }
                    tally.errors += 1;
                }
            }
        }
    }
    Ok(())
}

async fn one_handshake(opts: &Opts, rng: &mut SmallRng, rbuf: &mut BytesMut) -> io::Result<()> {
    let mut stream = connect(opts.addr).await?;
    if opts.raw {
        let key = proto::new_key(rng);
        let request = proto::handshake_request(&opts.addr.to_string(), &opts.path, &key);
        stream.write_all(request.as_bytes()).await?;
        while rbuf.len() < request.len() {
            read_some(&mut stream, rbuf, 4096).await?;
        }
        return Ok(());
    }
    upgrade(&mut stream, opts, rng, rbuf).await?;
    close_handshake(&mut stream, rng, rbuf, &mut MessageParser::default()).await
}

async fn http_conn(opts: &Opts, tally: &mut Tally) -> io::Result<()> {
    let mut stream = connect(opts.addr).await?;
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", opts.path, opts.addr);
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut done = 0u64;
    while phase() != STOP && (opts.messages == 0 || done < opts.messages) {
        done += 1;
        let start = Instant::now();
        stream.write_all(request.as_bytes()).await?;
        let end = loop {
            if let Some(end) = proto::head_end(&rbuf) {
                break end;
            }
            read_some(&mut stream, &mut rbuf, 4096).await?;
        };
        let head = std::str::from_utf8(&rbuf[..end]).map_err(|_| proto::bad("head not UTF-8"))?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(proto::bad(&format!("unexpected response {head:?}")));
        }
        let len: usize = head
            .split("\r\n")
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .ok_or_else(|| proto::bad("no content-length"))?;
        while rbuf.len() < end + len {
            read_some(&mut stream, &mut rbuf, 4096).await?;
        }
        rbuf.advance(end);
        let body = rbuf.split_to(len);
        if &body[..] != b"Hello, World!" {
            return Err(proto::bad("unexpected body"));
        }
        if phase() == MEASURE {
            tally.ops += 1;
            tally.samples.push(start.elapsed());
        }
    }
    Ok(())
}

/// Opens and holds idle connections until told to stop on stdin.
async fn idle(opts: Opts) {
    let opts = Rc::new(opts);
    let pattern = Rc::new(vec![0x42u8; 16]);
    let mut opened = Vec::with_capacity(opts.conns);
    let mut errors = 0u64;
    let mut pending = JoinSet::new();
    let mut next = 0usize;
    // 64 handshakes at a time: a burst of 10,000 SYNs would overflow the listen backlog.
    while next < opts.conns || !pending.is_empty() {
        while next < opts.conns && pending.len() < 64 {
            let (opts, pattern, id) = (opts.clone(), pattern.clone(), next as u64);
            pending.spawn_local(async move {
                let mut rng = SmallRng::seed_from_u64(id);
                let mut stream = connect(opts.addr).await?;
                let mut rbuf = BytesMut::with_capacity(256);
                upgrade(&mut stream, &opts, &mut rng, &mut rbuf).await?;
                let mut frame = Vec::new();
                proto::put_masked_frame(&mut frame, proto::OP_BINARY, &pattern, &mut rng);
                stream.write_all(&frame).await?;
                let mut parser = MessageParser::default();
                loop {
                    match parser.next(&mut rbuf)? {
                        Some(Event::Message(m)) if m[..] == pattern[..] => break,
                        Some(_) => return Err(proto::bad("bad echo")),
                        None => read_some(&mut stream, &mut rbuf, 256).await?,
                    }
                }
                io::Result::Ok(stream)
            });
            next += 1;
        }
        match pending.join_next().await.expect("pending task") {
            Ok(Ok(stream)) => opened.push(stream),
            Ok(Err(e)) => {
                if errors == 0 {
                    eprintln!("bench-load: idle connection: {e}");
                }
                errors += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    println!("{{\"opened\":{},\"errors\":{errors}}}", opened.len());
    // Hold the connections until the harness has read the server's memory.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = io::stdin().read_line(&mut line);
    })
    .await;
    drop(opened);
}
