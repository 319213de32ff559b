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

/// One sample of a container's CPU and memory from the engine's stats.
pub async fn usage(docker: &Docker, container: &str) -> anyhow::Result<Usage> {
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
    Ok(Usage {
        cpu_ns,
        memory_bytes: usage.saturating_sub(inactive),
    })
}
