//! Server processes of the benchmarks: started from a binary, measured by their CPU time in
//! `/proc`, stopped when dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A child process, killed when dropped.
pub struct Process(Child);

impl Process {
    /// Starts `binary` with `args` and extra `env`, quiet, with no configuration of the
    /// developer's own (variables of the application's prefix are removed).
    pub fn spawn(binary: &Path, args: &[String], env: &[(&str, &str)]) -> anyhow::Result<Process> {
        let mut command = Command::new(binary);
        command
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let prefix = env_prefix(binary);
        for (key, _) in std::env::vars() {
            if !prefix.is_empty() && key.starts_with(&prefix) {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        Ok(Process(command.spawn().with_context(|| {
            format!("starting {}", binary.display())
        })?))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The prefix of the configuration variables of the application `binary` is, named after its
/// file (`shop` reads `SHOP_*`); empty when it has no file name.
pub fn env_prefix(binary: &Path) -> String {
    binary
        .file_name()
        .map(|n| {
            format!(
                "{}_",
                n.to_string_lossy().to_ascii_uppercase().replace('-', "_")
            )
        })
        .unwrap_or_default()
}

/// A loopback port that is free now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// CPU time (user + system, all threads) of `pid` so far, in microseconds.
pub fn cpu_us(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks * 1_000_000.0 / clock_ticks_per_second())
}

/// Context switches (voluntary and not) of every live thread of `pid` so far. On a VM a switch
/// costs microseconds, and a server that hands each statement to a database thread spends
/// most of its CPU switching; unlike CPU time, which comes in 10 ms ticks, the count is
/// exact. Threads that have exited are no longer counted.
pub fn context_switches(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("reading /proc/{pid}/task"))?
    {
        // A thread that ends between the listing and the read is skipped.
        let Ok(status) = std::fs::read_to_string(task?.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(("voluntary_ctxt_switches" | "nonvoluntary_ctxt_switches", n)) =
                line.split_once(':')
            {
                total += n.trim().parse::<u64>().context("malformed status")?;
            }
        }
    }
    Ok(total)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Waits until `GET {base}/health` answers 2xx, at most 20 s.
pub async fn wait_healthy(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{base} did not become healthy")
}
