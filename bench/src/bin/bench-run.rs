//! Runs every scenario against every server and writes `BENCHMARKS.md` and `bench/chart.svg`.
//! Normally started by `bench/run.sh`, which builds everything first.
//!
//! ```text
//! bench-run [--smoke] [--duration SECS] [--warmup SECS] [--rounds N] [--idle-conns N]
//!           [--only SCENARIO,...] [--go-bin PATH] [--out FILE] [--chart FILE]
//! ```
//!
//! Each measurement starts a fresh server pinned to core 0 and a load client pinned to core 1
//! (both on core 0 for the single-connection scenario), so a server never inherits another
//! run's memory or state. Every server is measured `--rounds` times, interleaved, and the best
//! round counts: noise on a shared machine only ever slows a run down.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use bench::{LoadResult, cpu_seconds, machine_busy_seconds, rss_kib};

const SERVER_CORE: &str = "0";
const CLIENT_CORE: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Ours,
    Axum,
    AxumNodelay,
    Gorilla,
    Tcp,
}

impl Kind {
    /// The row label in a scenario: the plain HTTP scenario compares handlers, not WebSockets.
    fn label_in(self, load: Load) -> &'static str {
        match (load, self) {
            (Load::Http { .. }, Kind::Ours) => "ours (compat handler on axum::serve)",
            (Load::Http { .. }, Kind::Axum) => "axum-native handler",
            (Load::Http { .. }, Kind::Gorilla) => "Go net/http (for reference)",
            _ => self.label(),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Ours => "ours (compat + websocket)",
            Kind::Axum => "axum-native (WebSocketUpgrade)",
            Kind::AxumNodelay => "axum-native with TCP_NODELAY (for reference)",
            Kind::Gorilla => "gorilla/websocket (Go)",
            Kind::Tcp => "raw TCP echo (ceiling)",
        }
    }
    fn short(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Axum => "axum",
            Kind::AxumNodelay => "axum+nodelay",
            Kind::Gorilla => "gorilla",
            Kind::Tcp => "raw TCP",
        }
    }
}

#[derive(Debug, Clone)]
struct Config {
    smoke: bool,
    duration: f64,
    warmup: f64,
    rounds: usize,
    idle_conns: usize,
    only: Option<Vec<String>>,
    go_bin: Option<PathBuf>,
    out: PathBuf,
    chart: PathBuf,
    bin_dir: PathBuf,
    taskset: bool,
    wrk: bool,
    log_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Load {
    Ws {
        conns: usize,
        size: usize,
        window: usize,
    },
    Handshake {
        conns: usize,
    },
    Http {
        conns: usize,
    },
    Idle,
}

#[derive(Debug, Clone)]
struct Scenario {
    key: &'static str,
    title: String,
    load: Load,
    same_core: bool,
    servers: Vec<Kind>,
}

/// One server's figure in one scenario.
#[derive(Debug, Clone)]
struct Measured {
    kind: Kind,
    result: LoadResult,
    /// Idle memory: KiB per connection, RSS before and after (KiB), connections held.
    idle: Option<(f64, u64, u64, u64)>,
    /// HTTP measured with wrk rather than the harness's own client.
    by_wrk: bool,
}

fn main() {
    raise_nofile_limit();
    let cfg = parse_args();
    let scenarios = scenarios(&cfg);
    let started = Instant::now();
    let mut results: BTreeMap<&'static str, Vec<Measured>> = BTreeMap::new();
    let mut failed = false;
    for sc in &scenarios {
        eprintln!("== {} ==", sc.title);
        let mut best: BTreeMap<Kind, Measured> = BTreeMap::new();
        let rounds = if matches!(sc.load, Load::Idle) {
            1
        } else {
            cfg.rounds
        };
        for round in 0..rounds {
            for &kind in &sc.servers {
                match measure(&cfg, sc, kind) {
                    Ok(m) => {
                        eprintln!(
                            "   round {} {:>8}: {}",
                            round + 1,
                            kind.short(),
                            summary(&m)
                        );
                        if m.result.errors > 0 {
                            failed = true;
                        }
                        // The best round counts, but a round that ran beside other work
                        // only when no quiet round exists.
                        let better = best.get(&kind).is_none_or(|b| match sc.load {
                            Load::Idle => false,
                            _ => match (disturbed(&m), disturbed(b)) {
                                (false, true) => true,
                                (true, false) => false,
                                _ => m.result.ops_per_sec() > b.result.ops_per_sec(),
                            },
                        });
                        if better {
                            best.insert(kind, m);
                        }
                    }
                    Err(e) => {
                        eprintln!("   round {} {:>8}: FAILED: {e}", round + 1, kind.short());
                        failed = true;
                    }
                }
            }
        }
        results.insert(sc.key, best.into_values().collect());
    }
    let elapsed = started.elapsed();
    if cfg.smoke {
        let ok = !failed
            && results
                .values()
                .flatten()
                .all(|m| m.result.ops > 0 && m.result.errors == 0);
        eprintln!(
            "bench smoke: {} in {:.1}s",
            if ok { "ok" } else { "FAILED" },
            elapsed.as_secs_f64()
        );
        std::process::exit(if ok { 0 } else { 1 });
    }
    let chart = chart_svg(&scenarios, &results);
    std::fs::write(&cfg.chart, chart).expect("write chart");
    let report = report(&cfg, &scenarios, &results, elapsed);
    std::fs::write(&cfg.out, report).expect("write report");
    eprintln!(
        "wrote {} and {} in {:.0}s",
        cfg.out.display(),
        cfg.chart.display(),
        elapsed.as_secs_f64()
    );
    if failed {
        eprintln!("some measurements failed or saw errors; see above");
        std::process::exit(1);
    }
}

/// Other work took more than this share of a core during a round: the round is marked.
const FOREIGN_LIMIT: f64 = 0.15;

fn disturbed(m: &Measured) -> bool {
    m.idle.is_none() && m.result.foreign_load().is_some_and(|f| f > FOREIGN_LIMIT)
}

fn summary(m: &Measured) -> String {
    let r = &m.result;
    if let Some((per, ..)) = m.idle {
        return format!("{per:.1} KiB/conn ({} conns)", r.ops);
    }
    format!(
        "{:.0}/s, {:.1} MiB/s, p50 {:.0}us p99 {:.0}us, server cpu {}, client cpu {:.0}%, other {}, errors {}",
        r.ops_per_sec(),
        r.bytes_per_sec() / MIB,
        r.p50_us,
        r.p99_us,
        r.server_cpu_s
            .map_or("?".into(), |c| format!("{:.0}%", 100.0 * c / r.secs)),
        100.0 * r.client_cpu_s / r.secs,
        r.foreign_load()
            .map_or("?".into(), |f| format!("{:.0}%", 100.0 * f)),
        r.errors
    )
}

const MIB: f64 = 1024.0 * 1024.0;

fn parse_args() -> Config {
    let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().expect("current exe");
    let bin_dir = exe.parent().expect("exe dir").to_path_buf();
    let mut cfg = Config {
        smoke: false,
        duration: 3.0,
        warmup: 1.0,
        rounds: 3,
        idle_conns: 10_000,
        only: None,
        go_bin: None,
        out: bench_dir.join("../BENCHMARKS.md"),
        chart: bench_dir.join("chart.svg"),
        log_dir: bench_dir.join("target/logs"),
        bin_dir,
        taskset: Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        wrk: Command::new("wrk")
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--smoke" {
            cfg.smoke = true;
            continue;
        }
        let value = args
            .next()
            .unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--duration" => cfg.duration = value.parse().unwrap_or_else(|_| die("--duration")),
            "--warmup" => cfg.warmup = value.parse().unwrap_or_else(|_| die("--warmup")),
            "--rounds" => cfg.rounds = value.parse().unwrap_or_else(|_| die("--rounds")),
            "--idle-conns" => {
                cfg.idle_conns = value.parse().unwrap_or_else(|_| die("--idle-conns"))
            }
            "--only" => cfg.only = Some(value.split(',').map(str::to_owned).collect()),
            "--go-bin" => cfg.go_bin = Some(PathBuf::from(value)),
            "--out" => cfg.out = PathBuf::from(value),
            "--chart" => cfg.chart = PathBuf::from(value),
            _ => die(&format!("unknown flag {flag}")),
        }
    }
    if let Some(go) = cfg.go_bin.as_ref().filter(|go| !go.exists()) {
        eprintln!("bench: {} not found: gorilla is skipped", go.display());
        cfg.go_bin = None;
    }
    if cfg.go_bin.is_none() && !cfg.smoke {
        eprintln!("bench: no Go server (--go-bin): gorilla/websocket is skipped in every scenario");
    }
    if !cfg.taskset {
        eprintln!("bench: taskset not found: server and client are NOT pinned to separate cores");
    }
    if cfg.smoke {
        cfg.duration = 1.0;
        cfg.warmup = 0.3;
        cfg.rounds = 1;
        cfg.go_bin = None;
    }
    std::fs::create_dir_all(&cfg.log_dir).expect("log dir");
    cfg
}

fn die(msg: &str) -> ! {
    eprintln!("bench-run: {msg}");
    std::process::exit(2)
}

fn scenarios(cfg: &Config) -> Vec<Scenario> {
    let mut ws_servers = vec![Kind::Ours, Kind::Axum];
    let mut http_servers = vec![Kind::Ours, Kind::Axum];
    if cfg.go_bin.is_some() {
        ws_servers.push(Kind::Gorilla);
        http_servers.push(Kind::Gorilla);
    }
    let idle_servers = ws_servers.clone();
    ws_servers.push(Kind::Tcp);
    if cfg.smoke {
        return vec![Scenario {
            key: "smoke",
            title: "smoke: C=10, 1 KiB ping-pong, ours only".into(),
            load: Load::Ws {
                conns: 10,
                size: 1024,
                window: 1,
            },
            same_core: false,
            servers: vec![Kind::Ours],
        }];
    }
    let ws = |key, title: &str, conns, size, window, same_core| Scenario {
        key,
        title: title.to_owned(),
        load: Load::Ws {
            conns,
            size,
            window,
        },
        same_core,
        servers: ws_servers.clone(),
    };
    let all = vec![
        ws(
            "c1_16b",
            "C=1, 16 B ping-pong (server and client on one core)",
            1,
            16,
            1,
            true,
        ),
        ws("c100_1k", "C=100, 1 KiB ping-pong", 100, 1024, 1, false),
        ws("c10_64k", "C=10, 64 KiB ping-pong", 10, 64 * 1024, 1, false),
        {
            // axum::serve leaves Nagle on, which batches pipelined writes in the kernel; this
            // project (and gorilla) set TCP_NODELAY. The extra row shows what that is worth.
            let mut s = ws(
                "c10_1k_w32",
                "C=10, 1 KiB, window 32 (pipelined)",
                10,
                1024,
                32,
                false,
            );
            s.servers.insert(2, Kind::AxumNodelay);
            s
        },
        ws("c10_1m", "C=10, 1 MiB ping-pong", 10, 1 << 20, 1, false),
        Scenario {
            key: "handshake",
            title: "Handshakes per second (16 concurrent connect, upgrade, close loops)".into(),
            load: Load::Handshake { conns: 16 },
            same_core: false,
            servers: ws_servers.clone(),
        },
        Scenario {
            key: "idle",
            title: format!(
                "Resident memory per idle connection ({} connections)",
                cfg.idle_conns
            ),
            load: Load::Idle,
            same_core: false,
            servers: idle_servers,
        },
        Scenario {
            key: "http",
            title: "Plain HTTP handler (GET /plain, 50 keep-alive connections)".into(),
            load: Load::Http { conns: 50 },
            same_core: false,
            servers: http_servers,
        },
    ];
    match &cfg.only {
        Some(only) => all
            .into_iter()
            .filter(|s| only.iter().any(|o| o == s.key))
            .collect(),
        None => all,
    }
}

/// A running server, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pinned(cfg: &Config, core: &str, program: &Path) -> Command {
    if cfg.taskset {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(core).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start_server(cfg: &Config, kind: Kind) -> Result<Server, String> {
    let mut cmd = match kind {
        Kind::Gorilla => {
            let go = cfg.go_bin.as_ref().ok_or("no Go server")?;
            let mut c = pinned(cfg, SERVER_CORE, go);
            c.args(["-addr", "127.0.0.1:0"]);
            c
        }
        _ => {
            let mut c = pinned(cfg, SERVER_CORE, &cfg.bin_dir.join("bench-server"));
            c.arg(match kind {
                Kind::Ours => "ours",
                Kind::Axum => "axum",
                Kind::AxumNodelay => "axum-nodelay",
                _ => "tcp",
            });
            c
        }
    };
    let log = std::fs::File::create(cfg.log_dir.join(format!("{:?}.log", kind).to_lowercase()))
        .map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start {kind:?}: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| format!("{kind:?} did not start"))?;
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("{kind:?} printed {line:?}"))?;
    Ok(Server { child, addr })
}

fn measure(cfg: &Config, sc: &Scenario, kind: Kind) -> Result<Measured, String> {
    let server = start_server(cfg, kind)?;
    let pid = server.child.id();
    // Let the server settle (Go's runtime, the listener) before loading it.
    std::thread::sleep(Duration::from_millis(100));
    let client_core = if sc.same_core {
        SERVER_CORE
    } else {
        CLIENT_CORE
    };
    let mut args: Vec<String> = Vec::new();
    let mut push = |a: &str, v: String| {
        args.push(a.to_owned());
        args.push(v);
    };
    push("--addr", server.addr.to_string());
    push("--duration", cfg.duration.to_string());
    push("--warmup", cfg.warmup.to_string());
    push("--server-pid", pid.to_string());
    let mode = match sc.load {
        Load::Ws {
            conns,
            size,
            window,
        } => {
            push("--conns", conns.to_string());
            push("--size", size.to_string());
            push("--window", window.to_string());
            "ws"
        }
        Load::Handshake { conns } => {
            push("--conns", conns.to_string());
            "handshake"
        }
        Load::Http { conns } => {
            if cfg.wrk {
                return measure_wrk(cfg, &server, conns, kind);
            }
            push("--conns", conns.to_string());
            "http"
        }
        Load::Idle => return measure_idle(cfg, &server, kind),
    };
    let mut cmd = pinned(cfg, client_core, &cfg.bin_dir.join("bench-load"));
    cmd.arg(mode).args(&args);
    if kind == Kind::Tcp {
        cmd.arg("--raw");
    }
    let out = run_with_timeout(
        cmd,
        Duration::from_secs_f64(cfg.duration + cfg.warmup + 30.0),
    )?;
    let result: LoadResult = serde_json::from_str(out.lines().last().unwrap_or(""))
        .map_err(|e| format!("client output {out:?}: {e}"))?;
    Ok(Measured {
        kind,
        result,
        idle: None,
        by_wrk: false,
    })
}

fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        let _ = tx.send(s);
    });
    match rx.recv_timeout(timeout) {
        Ok(s) => {
            let status = child.wait().map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("client exited with {status}"));
            }
            Ok(s)
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err("client timed out".into())
        }
    }
}

fn measure_idle(cfg: &Config, server: &Server, kind: Kind) -> Result<Measured, String> {
    let pid = server.child.id();
    let before = rss_kib(pid).ok_or("no RSS")?;
    let mut cmd = pinned(cfg, CLIENT_CORE, &cfg.bin_dir.join("bench-load"));
    cmd.args(["idle", "--addr", &server.addr.to_string()])
        .args(["--conns", &cfg.idle_conns.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(120)).map_err(|_| {
        let _ = child.kill();
        "idle client timed out".to_owned()
    })?;
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("idle client: {line:?}: {e}"))?;
    let opened = v["opened"].as_u64().unwrap_or(0);
    let errors = v["errors"].as_u64().unwrap_or(0);
    // Let the server finish whatever the last connections started, then read its memory.
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kib(pid).ok_or("no RSS")?;
    let _ = writeln!(stdin);
    drop(stdin);
    let _ = child.wait();
    if opened == 0 {
        return Err("no connection opened".into());
    }
    let per = after.saturating_sub(before) as f64 / opened as f64;
    Ok(Measured {
        kind,
        result: LoadResult {
            ops: opened,
            errors,
            secs: 1.0,
            ..LoadResult::default()
        },
        idle: Some((per, before, after, opened)),
        by_wrk: false,
    })
}

/// HTTP with wrk (a C load generator, cheaper per request than any tokio client).
fn measure_wrk(
    cfg: &Config,
    server: &Server,
    conns: usize,
    kind: Kind,
) -> Result<Measured, String> {
    let url = format!("http://{}/plain", server.addr);
    let wrk = |secs: f64| {
        let mut c = pinned(cfg, CLIENT_CORE, Path::new("wrk"));
        c.args(["-t1", "-c", &conns.to_string(), "-d"])
            .arg(format!("{}s", secs.ceil().max(1.0)))
            .args(["--latency", &url])
            .stdout(Stdio::piped());
        c
    };
    // Warm-up run, not measured.
    let _ = wrk(cfg.warmup).output();
    let pid = server.child.id();
    let server0 = cpu_seconds(pid);
    let machine0 = machine_busy_seconds();
    let t0 = Instant::now();
    let child = wrk(cfg.duration).spawn().map_err(|e| e.to_string())?;
    let (out, client_cpu) = wait_with_rusage(child)?;
    let secs = t0.elapsed().as_secs_f64();
    let server1 = cpu_seconds(pid);
    let machine1 = machine_busy_seconds();
    let rps: f64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("wrk output: {out}"))?;
    let pct = |p: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .map(|v| parse_wrk_time(v.trim()))
            .unwrap_or(0.0)
    };
    let errors = out
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .map_or(0, |_| 1);
    let wrk_secs = cfg.duration.ceil().max(1.0);
    Ok(Measured {
        kind,
        result: LoadResult {
            ops: (rps * wrk_secs) as u64,
            bytes: 0,
            secs: wrk_secs,
            p50_us: pct("50%"),
            p99_us: pct("99%"),
            // wrk runs slightly longer than its -d (startup); scale CPU to its window.
            server_cpu_s: server0.zip(server1).map(|(a, b)| (b - a) * wrk_secs / secs),
            client_cpu_s: client_cpu * wrk_secs / secs,
            errors,
            machine_busy_s: machine0
                .zip(machine1)
                .map(|(a, b)| (b - a) * wrk_secs / secs),
        },
        idle: None,
        by_wrk: true,
    })
}

fn parse_wrk_time(v: &str) -> f64 {
    let (num, mul) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().unwrap_or(0.0) * mul
}

/// Waits for a child and returns its stdout and CPU seconds (from wait4's rusage).
fn wait_with_rusage(mut child: Child) -> Result<(String, f64), String> {
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut s);
        s
    });
    let mut status = 0;
    // std's `wait` discards the child's rusage, so reap it with wait4 directly.
    // SAFETY: rusage is plain old data, valid when zeroed; wait4 writes into the two live
    // locals and reaps only our own child (std's `Child` is never waited on afterwards).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let out = reader.join().map_err(|_| "reader panicked")?;
    Ok((out, tv(usage.ru_utime) + tv(usage.ru_stime)))
}

fn raise_nofile_limit() {
    // 10,000 idle connections need more descriptors than the usual soft limit of 1024.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls only read or write the local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Report

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn find<'a>(
    results: &'a BTreeMap<&str, Vec<Measured>>,
    key: &str,
    kind: Kind,
) -> Option<&'a Measured> {
    results.get(key)?.iter().find(|m| m.kind == kind)
}

/// ours ÷ other, by the scenario's headline figure (ops/s; bytes/s against raw TCP).
fn ratio(results: &BTreeMap<&str, Vec<Measured>>, key: &str, other: Kind) -> Option<f64> {
    let ours = find(results, key, Kind::Ours)?;
    let them = find(results, key, other)?;
    if let (Some(a), Some(b)) = (ours.idle, them.idle) {
        return Some(a.0 / b.0);
    }
    let by_bytes = other == Kind::Tcp && ours.result.bytes > 0 && them.result.bytes > 0;
    let (a, b) = if by_bytes {
        (ours.result.bytes_per_sec(), them.result.bytes_per_sec())
    } else {
        (ours.result.ops_per_sec(), them.result.ops_per_sec())
    };
    (b > 0.0).then(|| a / b)
}

fn fmt_rate(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

fn report(
    cfg: &Config,
    scenarios: &[Scenario],
    results: &BTreeMap<&'static str, Vec<Measured>>,
    elapsed: Duration,
) -> String {
    let mut s = String::new();
    let model = sh("lscpu | sed -n 's/^Model name: *//p'");
    let cores = sh("nproc");
    let kernel = sh("uname -r");
    let rustc = sh("rustc --version");
    let go = match &cfg.go_bin {
        Some(_) => sh("go version"),
        None => "not available (gorilla skipped)".into(),
    };
    let gorilla =
        sh("dpkg-query -W -f '${Version}' golang-github-gorilla-websocket-dev 2>/dev/null");
    let date = sh("date -u '+%Y-%m-%d %H:%M UTC'");
    let commit = sh(&format!(
        "git -C {} rev-parse --short HEAD",
        env!("CARGO_MANIFEST_DIR")
    ));
    // The run's own outputs do not count: the chart is written before this report.
    let dirty = !sh(&format!(
        "git -C {} status --porcelain -- .. ':!../BENCHMARKS.md' ':!chart.svg' 2>/dev/null | head -1",
        env!("CARGO_MANIFEST_DIR")
    ))
    .is_empty();
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `bash bench/run.sh` (the harness in [`bench/`](bench/)) on {date}, in {:.0} s. \
         Every figure below comes from this one run: ratios between runs are meaningless on this \
         machine (20-30% run-to-run noise).\n",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(
        s,
        "| machine | {model}, {cores} cores (lscpu), Linux {kernel} |"
    );
    let _ = writeln!(s, "| Rust | {rustc}, release profile |");
    let _ = writeln!(
        s,
        "| Go | {go}{} |",
        if gorilla.is_empty() {
            String::new()
        } else {
            format!(", gorilla/websocket {gorilla} (Debian)")
        }
    );
    let _ = writeln!(
        s,
        "| commit | {commit}{} |",
        if dirty {
            " plus uncommitted changes"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "| pinning | {} |",
        if cfg.taskset {
            "server on core 0, load client on core 1 (`taskset`), except where noted"
        } else {
            "none (taskset missing)"
        }
    );
    let _ = writeln!(
        s,
        "| per figure | best of {} interleaved rounds, {:.0} s measured after {:.0} s warm-up; a fresh server process each time |",
        cfg.rounds, cfg.duration, cfg.warmup
    );
    let _ = writeln!(s);

    // Targets.
    let _ = writeln!(s, "## Targets\n");
    let _ = writeln!(s, "| target | measured | |\n|---|---|---|");
    let mut target = |name: &str, value: Option<f64>, goal: f64, higher: bool, unit: &str| {
        let (text, status) = match value {
            Some(v) => {
                let met = if higher { v >= goal } else { v <= goal };
                (
                    format!("{v:.2}{unit}"),
                    if met { "met" } else { "**missed**" },
                )
            }
            None => ("n/a".into(), "not measured"),
        };
        let _ = writeln!(s, "| {name} | {text} | {status} |");
    };
    let r = |key, kind| ratio(results, key, kind);
    target(
        "C=100 1 KiB: ≥ 1.2× axum-native msg/s",
        r("c100_1k", Kind::Axum),
        1.2,
        true,
        "×",
    );
    target(
        "C=10 64 KiB: ≥ 1.0× axum-native",
        r("c10_64k", Kind::Axum),
        1.0,
        true,
        "×",
    );
    target(
        "C=10 64 KiB: ≥ 3× gorilla",
        r("c10_64k", Kind::Gorilla),
        3.0,
        true,
        "×",
    );
    target(
        "pipelined (C=10 1 KiB W=32): ≥ 1.0× axum-native",
        r("c10_1k_w32", Kind::Axum),
        1.0,
        true,
        "×",
    );
    target(
        "pipelined (C=10 1 KiB W=32): ≥ 3× gorilla",
        r("c10_1k_w32", Kind::Gorilla),
        3.0,
        true,
        "×",
    );
    target(
        "C=10 1 MiB: ≥ 0.80× raw TCP echo bytes/s",
        r("c10_1m", Kind::Tcp),
        0.8,
        true,
        "×",
    );
    target(
        "idle memory: ≤ 8 KiB per connection",
        find(results, "idle", Kind::Ours).and_then(|m| m.idle.map(|i| i.0)),
        8.0,
        false,
        " KiB",
    );
    target(
        "handshakes/s: ≥ 1.0× gorilla",
        r("handshake", Kind::Gorilla),
        1.0,
        true,
        "×",
    );
    target(
        "plain HTTP: ≥ 0.95× native axum handler",
        r("http", Kind::Axum),
        0.95,
        true,
        "×",
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "![chart](bench/chart.svg)\n");

    // Per scenario.
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(
        s,
        "CPU is user + system time of the whole process over the measured window (`/proc/PID/stat`), \
         in percent of one core. \"per CPU-s\" is operations per second of server CPU: what a \
         server would do with a whole core to itself, when the client is the bottleneck. \
         \"other CPU\" is the machine's busy time (`/proc/stat`) that neither process used: other \
         work on this shared machine (plus kernel time charged to no process); above 15% it is in \
         bold, and such a round counts only when every round of that server was disturbed. \
         Latency is per message (send to echo received), per handshake, or per request.\n"
    );
    for sc in scenarios {
        let Some(ms) = results.get(sc.key) else {
            continue;
        };
        let _ = writeln!(s, "### {}\n", sc.title);
        match sc.load {
            Load::Idle => {
                let _ = writeln!(
                    s,
                    "Each connection is upgraded and echoes one 16-byte message, then stays idle. \
                     Figure: (server RSS with all connections open − RSS before) ÷ connections.\n"
                );
                let _ = writeln!(
                    s,
                    "| server | KiB per connection | RSS before | RSS after | connections | ours ÷ this |\n|---|---:|---:|---:|---:|---:|"
                );
                for m in ms {
                    let (per, before, after, n) = m.idle.unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "| {} | {per:.1} | {:.1} MiB | {:.1} MiB | {n} | {} |",
                        m.kind.label(),
                        before as f64 / 1024.0,
                        after as f64 / 1024.0,
                        ratio(results, sc.key, m.kind).map_or("".into(), |r| format!("{r:.2}×"))
                    );
                }
            }
            _ => {
                let is_ws = matches!(sc.load, Load::Ws { .. });
                let unit = match sc.load {
                    Load::Ws { .. } => "msg/s",
                    Load::Handshake { .. } => "handshakes/s",
                    _ => "requests/s",
                };
                if sc.same_core {
                    let _ = writeln!(s, "Server and client share core 0.\n");
                }
                if ms.iter().any(|m| m.by_wrk) {
                    let _ = writeln!(s, "Load: `wrk -t1 -c50 --latency`.\n");
                }
                if matches!(sc.load, Load::Handshake { .. }) {
                    let _ = writeln!(
                        s,
                        "One handshake: TCP connect, upgrade request, 101 checked, close frame sent, \
                         server's close frame and FIN received. Raw TCP: connect, the request's bytes \
                         echoed, close.\n"
                    );
                }
                let _ = writeln!(
                    s,
                    "| server | {unit} |{} p50 µs | p99 µs | server CPU | client CPU | other CPU | per CPU-s | ours ÷ this |\n|---|---:|{}---:|---:|---:|---:|---:|---:|---:|",
                    if is_ws { " MiB/s |" } else { "" },
                    if is_ws { "---:|" } else { "" }
                );
                for m in ms {
                    let r = &m.result;
                    let cpu = r.server_cpu_s.map(|c| c / r.secs);
                    let per_cpu = r
                        .server_cpu_s
                        .map_or("?".into(), |c| fmt_rate(r.ops as f64 / c));
                    let mib = if is_ws {
                        format!(" {:.1} |", r.bytes_per_sec() / MIB)
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        s,
                        "| {}{} | {} |{mib} {:.0} | {:.0} | {} | {:.0}% | {} | {per_cpu} | {} |",
                        m.kind.label_in(sc.load),
                        if r.errors > 0 {
                            format!(" ({} errors!)", r.errors)
                        } else {
                            String::new()
                        },
                        fmt_rate(r.ops_per_sec()),
                        r.p50_us,
                        r.p99_us,
                        cpu.map_or("?".into(), |c| format!("{:.0}%", c * 100.0)),
                        100.0 * r.client_cpu_s / r.secs,
                        r.foreign_load().map_or("?".into(), |f| {
                            let text = format!("{:.0}%", 100.0 * f);
                            if f > FOREIGN_LIMIT {
                                format!("**{text}**")
                            } else {
                                text
                            }
                        }),
                        if m.kind == Kind::Ours {
                            "1.00×".to_owned()
                        } else {
                            ratio(results, sc.key, m.kind).map_or("".into(), |r| format!("{r:.2}×"))
                        },
                    );
                }
                if is_ws && find(results, sc.key, Kind::Tcp).is_some() {
                    let _ = writeln!(
                        s,
                        "\nAgainst raw TCP the ratio is of bytes/s (payload echoed)."
                    );
                }
                let client_bound: Vec<&str> = ms
                    .iter()
                    .filter(|m| !sc.same_core && m.result.client_cpu_s / m.result.secs >= 0.95)
                    .map(|m| m.kind.short())
                    .collect();
                if !client_bound.is_empty() {
                    let _ = writeln!(
                        s,
                        "\nThe load client used ≥ 95% of its core against {}: there the client, not \
                         the server, sets the pace, and \"per CPU-s\" is the fairer comparison.",
                        client_bound.join(", ")
                    );
                }
            }
        }
        let _ = writeln!(s);
    }

    // Method.
    let _ = writeln!(s, "## Method\n");
    let _ = writeln!(
        s,
        "- **Load client** (`bench/src/bin/bench-load.rs`): one single-threaded tokio runtime, its own \
         RFC 6455 client (no implementation under test is used by it). Every frame gets a fresh \
         mask key; every echo is checked byte for byte, the first 8 payload bytes carry a \
         sequence number (loss or reordering fails the run). Ping-pong keeps one message in flight \
         per connection; the pipelined mode keeps W in flight and tops the window up after every \
         read. Against the raw TCP echo the client sends the same masked frames and reads the same \
         number of bytes back.\n\
         - **Servers**: `ours` is the echo example's handler (`Upgrader::default()`, \
         `read_message`/`write_message`) mounted with `compat::handler` on `axum::serve`, without the \
         example's per-message `tracing::info!`. `axum-native` is axum 0.8's `WebSocketUpgrade` \
         with default settings (tokio-tungstenite 0.29). gorilla is `bench/go/echo.go` (zero \
         `Upgrader`, `ReadMessage`/`WriteMessage`), built in GOPATH mode against Debian's \
         golang-github-gorilla-websocket-dev. The raw TCP echo reads up to 256 KiB and writes it \
         back. Rust servers run a multi-thread tokio runtime, which pinned to one core has one \
         worker; Go likewise gets GOMAXPROCS=1 from the affinity mask.\n\
         - **axum-native with TCP_NODELAY** (pipelined scenario only): `axum::serve` leaves Nagle's \
         algorithm on, so the kernel coalesces the small echoes of a pipelined stream into few \
         segments; this project's `Conn` and gorilla set `TCP_NODELAY` (this project coalesces \
         replies to pipelined messages itself instead). The extra row is the same axum server \
         with `TCP_NODELAY`, to show which part of axum's figure is Nagle.\n\
         - **Plain HTTP**: `GET /plain` answering `Hello, World!` (text/plain): a compat handler \
         writing through the `ResponseWriter` vs an axum handler returning the string, both on \
         `axum::serve` with connect info; Go's net/http for reference.\n\
         - Reproduce: `bash bench/run.sh` (all), `bash bench/run.sh --only c100_1k,idle`, \
         `bash bench/run.sh --smoke`.\n"
    );

    let notes = Path::new(env!("CARGO_MANIFEST_DIR")).join("NOTES.md");
    if let Ok(text) = std::fs::read_to_string(&notes) {
        let _ = writeln!(s, "{}", text.trim_end());
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Chart

fn color(kind: Kind) -> &'static str {
    match kind {
        Kind::Ours => "#2b6cb0",
        Kind::Axum => "#dd6b20",
        Kind::AxumNodelay => "#f6ad55",
        Kind::Gorilla => "#38a169",
        Kind::Tcp => "#a0aec0",
    }
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal bars, one group per scenario, each bar relative to the group's best (or, for
/// memory, the group's largest) figure.
fn chart_svg(scenarios: &[Scenario], results: &BTreeMap<&'static str, Vec<Measured>>) -> String {
    let (width, label_w, bar_h, gap) = (960.0, 110.0, 18.0, 4.0);
    let bar_max = width - label_w - 260.0;
    let mut body = String::new();
    let mut y = 60.0;
    for sc in scenarios {
        let Some(ms) = results.get(sc.key) else {
            continue;
        };
        let is_idle = matches!(sc.load, Load::Idle);
        let value = |m: &Measured| -> f64 {
            match (sc.load, m.idle) {
                (_, Some(i)) => i.0,
                (Load::Ws { .. }, _) if sc.key == "c10_1m" => m.result.bytes_per_sec() / MIB,
                _ => m.result.ops_per_sec(),
            }
        };
        let unit = match sc.load {
            Load::Idle => "KiB/conn (lower is better)",
            Load::Ws { .. } if sc.key == "c10_1m" => "MiB/s",
            Load::Ws { .. } => "msg/s",
            Load::Handshake { .. } => "handshakes/s",
            Load::Http { .. } => "requests/s",
        };
        let max = ms.iter().map(value).fold(0.0, f64::max).max(1e-9);
        let _ = writeln!(
            body,
            r#"<text x="10" y="{:.0}" font-weight="bold">{} — {}</text>"#,
            y,
            esc(&sc.title),
            unit
        );
        y += 8.0;
        for m in ms {
            let v = value(m);
            let shown = if is_idle {
                format!("{v:.1} KiB")
            } else if sc.key == "c10_1m" {
                format!("{v:.0} MiB/s")
            } else {
                fmt_rate(v)
            };
            let w = (v / max * bar_max).max(1.0);
            let ratio = if m.kind == Kind::Ours {
                String::new()
            } else {
                ratio(results, sc.key, m.kind)
                    .map_or(String::new(), |r| format!("  (ours ÷ this {r:.2}×)"))
            };
            let _ = writeln!(
                body,
                r#"<text x="{lx:.0}" y="{ty:.0}" text-anchor="end">{label}</text><rect x="{label_w:.0}" y="{y:.0}" width="{w:.1}" height="{bar_h:.0}" fill="{c}"/><text x="{vx:.1}" y="{ty:.0}">{shown}{ratio}</text>"#,
                lx = label_w - 6.0,
                ty = y + bar_h - 5.0,
                label = esc(
                    if matches!(sc.load, Load::Http { .. }) && m.kind == Kind::Gorilla {
                        "net/http"
                    } else {
                        m.kind.short()
                    }
                ),
                c = color(m.kind),
                vx = label_w + w + 6.0,
                shown = esc(&shown),
                ratio = esc(&ratio),
            );
            y += bar_h + gap;
        }
        y += 26.0;
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{h:.0}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="24" font-size="16" font-weight="bold">WebSocket echo and HTTP on 2 cores: this project vs axum-native, gorilla/websocket and raw TCP</text>
<text x="10" y="42" fill="#555">Bars are relative to the best figure of each group (memory: to the largest). Same-run figures; see BENCHMARKS.md.</text>
{body}</svg>
"##,
        h = y + 10.0
    )
}
