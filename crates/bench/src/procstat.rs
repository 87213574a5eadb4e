//! Broker CPU and memory, sampled from `/proc/<pid>` while a scenario runs.
//!
//! CPU is `utime + stime` from `/proc/<pid>/stat` (fields 14 and 15, in clock
//! ticks of `USER_HZ`, which Linux fixes at 100 for the `/proc` ABI on every
//! architecture we run on); memory is `VmRSS` from `/proc/<pid>/status`. The
//! sampler runs on its own OS thread so that a saturated benchmark runtime
//! does not delay — and so distort — the samples.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Clock ticks per second in `/proc/<pid>/stat`.
const USER_HZ: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcSample {
    /// CPU time used so far, user + system, in seconds.
    pub(crate) cpu_seconds: f64,
    /// Resident set size in bytes.
    pub(crate) rss_bytes: u64,
}

/// Parses `utime + stime` (seconds) out of the text of `/proc/<pid>/stat`.
///
/// The second field is the command name in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the *last* `)`.
pub(crate) fn parse_stat_cpu(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so utime (14) is index 11.
    let mut fields = after.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Parses `VmRSS` (bytes) out of the text of `/proc/<pid>/status`.
pub(crate) fn parse_status_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Reads one sample of process `pid`.
pub(crate) fn sample(pid: u32) -> Result<ProcSample> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let stat = std::fs::read_to_string(dir.join("stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (is --broker-pid {pid} running?)"))?;
    let status = std::fs::read_to_string(dir.join("status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let Some(cpu_seconds) = parse_stat_cpu(&stat) else {
        bail!("/proc/{pid}/stat: cannot find utime and stime");
    };
    let Some(rss_bytes) = parse_status_rss(&status) else {
        bail!("/proc/{pid}/status: no VmRSS line");
    };
    Ok(ProcSample {
        cpu_seconds,
        rss_bytes,
    })
}

/// What the sampler saw over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub(crate) struct BrokerUsage {
    /// Mean CPU over the measured window, in percent of one core.
    pub(crate) cpu_percent: f64,
    /// RSS at the start of the measured window, bytes.
    pub(crate) rss_start_bytes: u64,
    /// RSS halfway through the window, bytes: with `rss_end_bytes`, shows
    /// whether memory levelled off or kept growing.
    pub(crate) rss_mid_bytes: u64,
    /// RSS at the end, bytes.
    pub(crate) rss_end_bytes: u64,
    /// Highest RSS sampled, bytes.
    pub(crate) rss_peak_bytes: u64,
}

/// A background thread sampling a process every `interval`.
#[derive(Debug)]
pub(crate) struct Sampler {
    pid: u32,
    stop: Arc<AtomicBool>,
    /// The thread returns its (seconds since start, RSS) samples.
    handle: Option<JoinHandle<Vec<(f64, u64)>>>,
    first: ProcSample,
    started: Instant,
}

impl Sampler {
    /// Takes a first sample (failing if the process cannot be read) and
    /// starts sampling the peak RSS.
    pub(crate) fn start(pid: u32, interval: Duration) -> Result<Sampler> {
        let first = sample(pid)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let started = Instant::now();
        let handle = std::thread::Builder::new()
            .name("proc-sampler".into())
            .spawn(move || {
                let mut samples = vec![(0.0, first.rss_bytes)];
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(interval);
                    if let Ok(s) = sample(pid) {
                        samples.push((started.elapsed().as_secs_f64(), s.rss_bytes));
                    }
                }
                samples
            })
            .context("spawning the /proc sampler thread")?;
        Ok(Sampler {
            pid,
            stop,
            handle: Some(handle),
            first,
            started,
        })
    }

    /// Stops sampling and summarises from the first sample to now.
    pub(crate) fn finish(mut self) -> Result<BrokerUsage> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = match self.handle.take() {
            Some(h) => h.join().unwrap_or_default(),
            None => Vec::new(),
        };
        let last = sample(self.pid)?;
        let wall = self.started.elapsed().as_secs_f64();
        let peak = samples.iter().map(|&(_, r)| r).max().unwrap_or(0);
        let mid = samples
            .iter()
            .min_by(|a, b| {
                (a.0 - wall / 2.0)
                    .abs()
                    .total_cmp(&(b.0 - wall / 2.0).abs())
            })
            .map_or(last.rss_bytes, |&(_, r)| r);
        let cpu = if wall > 0.0 {
            100.0 * (last.cpu_seconds - self.first.cpu_seconds) / wall
        } else {
            0.0
        };
        Ok(BrokerUsage {
            cpu_percent: cpu,
            rss_start_bytes: self.first.rss_bytes,
            rss_mid_bytes: mid,
            rss_end_bytes: last.rss_bytes,
            rss_peak_bytes: peak.max(last.rss_bytes),
        })
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_read_after_a_command_name_with_spaces_and_parens() {
        let stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 123 456 789";
        assert_eq!(parse_stat_cpu(stat), Some(3.0));
    }

    #[test]
    fn a_truncated_stat_line_is_an_error_not_a_panic() {
        assert_eq!(parse_stat_cpu("1234 (x) S 1 2"), None);
        assert_eq!(parse_stat_cpu("no parens at all"), None);
    }

    #[test]
    fn rss_comes_from_the_vmrss_line_in_kib() {
        let status = "Name:\tmosquitto\nVmPeak:\t  9999 kB\nVmRSS:\t    6420 kB\nThreads:\t1\n";
        assert_eq!(parse_status_rss(status), Some(6420 * 1024));
        assert_eq!(parse_status_rss("Name: x\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_bytes > 0);
        let sampler = Sampler::start(std::process::id(), Duration::from_millis(5)).expect("start");
        std::thread::sleep(Duration::from_millis(20));
        let u = sampler.finish().expect("finish");
        assert!(u.rss_peak_bytes >= u.rss_start_bytes.min(u.rss_end_bytes));
    }
}
