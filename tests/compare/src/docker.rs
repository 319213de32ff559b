//! The Docker engine: whether it is there, and what a container uses (CPU time, memory).

use anyhow::Context;
use futures::StreamExt;
pub use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::StatsOptionsBuilder;

/// Connects to the engine as testcontainers does (`DOCKER_HOST`, else the local socket) and
/// checks that it answers.
pub async fn engine() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_defaults().context("cannot connect to the Docker engine")?;
    docker
        .ping()
        .await
        .context("the Docker engine does not answer (is the daemon running? DOCKER_HOST?)")?;
    Ok(docker)
}

/// The engine for a test that needs Docker, or `None` when the test should skip.
///
/// With `CI` set a missing engine is a failure, never a skip: CI has Docker, and a suite that
/// silently skips its container tests proves nothing. Locally it skips with the reason printed.
pub async fn engine_for_test(test: &str) -> Option<Docker> {
    match engine().await {
        Ok(docker) => Some(docker),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{test} needs Docker, and CI is set: {e:#}")
        }
        Err(e) => {
            eprintln!("skipping {test}: Docker is not available here ({e:#})");
            None
        }
    }
}

/// What a container has used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time since the container started, in nanoseconds (user + system).
    pub cpu_ns: u64,
    /// Memory in use now, without the page cache the kernel can drop (the "working set").
    pub memory_bytes: u64,
}

/// CPU time `container` (its full id) has used since it started, nanoseconds.
///
/// Read from the container's cgroup when the engine runs on this host (cgroup v1 or v2, the
/// cgroupfs or systemd driver): exact, and read at once. Otherwise from the engine's stats,
/// where one call takes about a second on this machine's engine even with `one-shot`, so
/// that CPU read before and after some work also counts a second of whatever the container
/// does meanwhile.
pub async fn cpu_ns(docker: &Docker, container: &str) -> anyhow::Result<u64> {
    match cgroup_cpu_ns(container) {
        Some(ns) => Ok(ns),
        None => Ok(engine_stats(docker, container).await?.0),
    }
}

/// The CPU counter of the cgroup the engine made for container `id`, if this host has it.
fn cgroup_cpu_ns(id: &str) -> Option<u64> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    // cgroup v1: `cpuacct.usage`, nanoseconds.
    for dir in [
        format!("cpuacct/docker/{id}"),
        format!("cpu,cpuacct/docker/{id}"),
        format!("cpuacct/system.slice/docker-{id}.scope"),
        format!("cpu,cpuacct/system.slice/docker-{id}.scope"),
    ] {
        if let Ok(text) = std::fs::read_to_string(root.join(dir).join("cpuacct.usage")) {
            return text.trim().parse().ok();
        }
    }
    // cgroup v2: `usage_usec` in `cpu.stat`, microseconds.
    for dir in [
        format!("system.slice/docker-{id}.scope"),
        format!("docker/{id}"),
    ] {
        if let Ok(text) = std::fs::read_to_string(root.join(dir).join("cpu.stat")) {
            return usage_ns_of_cpu_stat(&text);
        }
    }
    None
}

/// The CPU time in a cgroup v2 `cpu.stat` file (its `usage_usec` line), nanoseconds.
fn usage_ns_of_cpu_stat(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("usage_usec "))
        .and_then(|usec| usec.trim().parse::<u64>().ok())
        .map(|usec| usec * 1_000)
}

/// What a container has used so far: CPU as [`cpu_ns`] reads it (first, before the engine's
/// slow stats call), memory from the engine's stats.
pub async fn usage(docker: &Docker, container: &str) -> anyhow::Result<Usage> {
    let fast = cgroup_cpu_ns(container);
    let (stats_cpu_ns, memory_bytes) = engine_stats(docker, container).await?;
    Ok(Usage {
        cpu_ns: fast.unwrap_or(stats_cpu_ns),
        memory_bytes,
    })
}

/// One sample of a container's CPU (nanoseconds) and working-set memory (bytes) from the
/// engine's stats.
async fn engine_stats(docker: &Docker, container: &str) -> anyhow::Result<(u64, u64)> {
    let options = StatsOptionsBuilder::new()
        .stream(false)
        .one_shot(true)
        .build();
    let stats = docker
        .stats(container, Some(options))
        .next()
        .await
        .context("the engine sent no stats")?
        .with_context(|| format!("stats of container {container}"))?;
    let cpu_ns = stats
        .cpu_stats
        .and_then(|c| c.cpu_usage)
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let memory = stats.memory_stats.unwrap_or_default();
    let usage = memory.usage.unwrap_or(0);
    // cgroup v2 reports `inactive_file`, v1 `total_inactive_file`: cache, not the process's.
    let inactive = memory
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    Ok((cpu_ns, usage.saturating_sub(inactive)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_v2_cpu_stat_gives_its_usage_in_nanoseconds() {
        let text = "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 0\n";
        assert_eq!(usage_ns_of_cpu_stat(text), Some(1_234_567_000));
        assert_eq!(usage_ns_of_cpu_stat("user_usec 5\n"), None);
        // No container has this id: the engine's stats are the fallback.
        assert_eq!(cgroup_cpu_ns(&"0".repeat(64)), None);
    }
}
