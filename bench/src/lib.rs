//! Shared pieces of the benchmark harness: the load client's wire format (a minimal RFC 6455
//! client written here, so the client never depends on an implementation under test), the
//! result records the client prints, and `/proc` readings for CPU time and resident memory.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod proto;

/// What one `bench-load` run measured; printed as one JSON line on stdout.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadResult {
    /// Completed operations (echoed messages, handshakes, HTTP responses) in the measured window.
    pub ops: u64,
    /// Payload bytes echoed back in the measured window (messages only).
    pub bytes: u64,
    /// Length of the measured window in seconds.
    pub secs: f64,
    /// Median and 99th percentile latency in microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    /// CPU seconds (user + system) the server spent in the window, when its pid was given.
    pub server_cpu_s: Option<f64>,
    /// CPU seconds the client spent in the window.
    pub client_cpu_s: f64,
    /// Operations that failed verification or errored (a correct run has 0).
    pub errors: u64,
    /// CPU seconds the whole machine was busy in the window (`/proc/stat`), to tell whether
    /// other work ran beside the benchmark.
    #[serde(default)]
    pub machine_busy_s: Option<f64>,
}

impl LoadResult {
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs
    }

    /// Cores' worth of CPU that neither the server nor the client used during the window:
    /// other processes, or kernel work not charged to either (near 0 on a quiet machine).
    pub fn foreign_load(&self) -> Option<f64> {
        let busy = self.machine_busy_s?;
        let ours = self.server_cpu_s? + self.client_cpu_s;
        Some(((busy - ours) / self.secs).max(0.0))
    }
}

/// Seconds the machine's CPUs have been busy since boot (all CPUs, from `/proc/stat`).
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle) / USER_HZ)
}

/// Linux reports `/proc/PID/stat` times in USER_HZ, which is 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of a whole process (all threads), from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields after it start at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// CPU seconds of this process.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// Resident set size of a process in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Latency samples in nanoseconds.
#[derive(Debug, Default)]
pub struct Samples(pub Vec<u32>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_nanos().min(u32::MAX as u128) as u32);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// The `q` quantile (0..=1) in microseconds; 0 when there are no samples.
    pub fn quantile_us(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let idx = ((self.0.len() - 1) as f64 * q).round() as usize;
        let (_, v, _) = self.0.select_nth_unstable(idx);
        *v as f64 / 1000.0
    }
}
