//! What machine and which commit a run measured, and the bench process's own memory.
//!
//! Contract: every function here is best effort and never fails: a value that cannot be read
//! (not Linux, no git) is reported as "unknown" / `None`, never as an error.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The machine a run was measured on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub ram_gib: f64,
    pub os: String,
    pub kernel: String,
    /// Filesystem type of the bench data folder (fsync cost depends on it).
    pub data_fs: String,
}

impl Machine {
    pub fn detect(data_dir: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim()))
            .unwrap_or("unknown")
            .to_string();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            cpus: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            cpu_model,
            ram_gib: (ram_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            os,
            kernel,
            data_fs: filesystem_of(data_dir),
        }
    }
}

/// The filesystem type (`ext4`, `tmpfs`, …) of the mount holding `path`, from /proc/mounts.
fn filesystem_of(path: &Path) -> String {
    let Ok(abs) = std::fs::canonicalize(path) else { return "unknown".into() };
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_dev, mount, fs) = (parts.next()?, parts.next()?, parts.next()?);
            abs.starts_with(mount).then(|| (mount.len(), fs.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".into(), |(_, fs)| fs)
}

/// The commit measured and whether the working tree had local changes (read-only git calls).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    pub commit: String,
    pub dirty: bool,
}

impl GitInfo {
    pub fn detect(repo: &Path) -> GitInfo {
        let run = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(repo)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let commit = run(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
        let dirty = run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        GitInfo { commit, dirty }
    }
}

/// VmRSS and VmHWM (peak resident set) of this process, in MiB, from /proc/self/status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub rss_mib: f64,
    pub hwm_mib: f64,
}

impl Memory {
    pub fn of_self() -> Option<Memory> {
        Self::of_status(&std::fs::read_to_string("/proc/self/status").ok()?)
    }

    /// Parses a `/proc/<pid>/status` text.
    pub fn of_status(status: &str) -> Option<Memory> {
        let kib = |key: &str| -> Option<f64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Memory { rss_mib: kib("VmRSS:")? / 1024.0, hwm_mib: kib("VmHWM:")? / 1024.0 })
    }
}

/// A snapshot of the machine's CPU counters and this process's own CPU time (children that
/// have been waited for included), to tell how much CPU other processes took during a section.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuSample {
    /// All CPUs' jiffies (busy + idle) from /proc/stat.
    pub total: u64,
    /// All CPUs' busy jiffies (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// This process's utime + stime + cutime + cstime, in jiffies.
    pub own: u64,
}

impl CpuSample {
    /// `None` where /proc is not available.
    pub fn now() -> Option<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
        let total = busy + field(3) + field(4);
        let own_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may contain spaces) start after the last ')'.
        let rest = own_stat.rsplit_once(')')?.1;
        let f: Vec<u64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
        // rest[0] is field 3 (state); utime is field 14 → index 11; stime 12; cutime 13; cstime 14.
        let own = f.get(11..15)?.iter().sum();
        Some(CpuSample { total, busy, own })
    }

    /// Percentage of all CPU time between `self` and `later` that other processes used.
    pub fn background_pct(&self, later: &CpuSample) -> f64 {
        let total = later.total.saturating_sub(self.total) as f64;
        let busy = later.busy.saturating_sub(self.busy) as f64;
        let own = later.own.saturating_sub(self.own) as f64;
        if total <= 0.0 { 0.0 } else { ((busy - own).max(0.0) / total * 100.0).min(100.0) }
    }
}

/// The 1-minute load average.
pub fn loadavg1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Waits (at most `budget`) until other processes use less than `threshold_pct` of the CPU over
/// a 2 s window. Returns the last window's background share and the time waited.
pub fn wait_for_quiet(budget: std::time::Duration, threshold_pct: f64) -> (f64, std::time::Duration) {
    let started = std::time::Instant::now();
    loop {
        let Some(a) = CpuSample::now() else { return (0.0, started.elapsed()) };
        std::thread::sleep(std::time::Duration::from_secs(2));
        let Some(b) = CpuSample::now() else { return (0.0, started.elapsed()) };
        let pct = a.background_pct(&b);
        if pct < threshold_pct || started.elapsed() >= budget {
            return (pct, started.elapsed());
        }
        eprintln!("   waiting for a quiet machine: other processes use {pct:.0} % of the CPU");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let m = Memory::of_status("Name:\tx\nVmHWM:\t  20480 kB\nVmRSS:\t   10240 kB\n").expect("parsed");
        assert_eq!((m.rss_mib, m.hwm_mib), (10.0, 20.0));
        assert!(Memory::of_status("Name: x").is_none());
        if let (Some(a), Some(b)) = (CpuSample::now(), CpuSample::now()) {
            assert!((0.0..=100.0).contains(&a.background_pct(&b)));
        }
    }
}
