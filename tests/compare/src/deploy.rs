//! What an application's `deploy` command writes, checked for any application: the Kubernetes
//! manifests of every placement against the API's schemas (offline, `scripts/k8s-validate.sh`),
//! the Compose files by `docker-compose config`, and a Compose deployment brought up and down
//! for real ([`ComposeUp`]).
//!
//! Like the container suites, a check whose tool is missing skips with a printed reason, and
//! fails when `CI` is set (`scripts/test.sh` installs what they need).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};

/// The workspace root (the scripts live under it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// `None` (skip, reason printed) or a panic under `CI`.
fn unavailable(test: &str, reason: &str) -> Option<()> {
    if in_ci() {
        panic!("{test}: {reason}, and CI is set");
    }
    eprintln!("skipping {test}: {reason}");
    None
}

fn run(command: &mut Command) -> anyhow::Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("run {command:?}"))?;
    Ok(output)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The placements of the application `binary`, from `placements --json`: name and node names.
pub fn placements(binary: &Path) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let output = run(Command::new(binary).args(["placements", "--json"]))?;
    if !output.status.success() {
        bail!("placements --json: {}", text(&output));
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let object = json.as_object().context("placements --json is an object")?;
    Ok(object
        .iter()
        .map(|(name, p)| {
            let nodes = p["nodes"]
                .as_object()
                .map(|n| n.keys().cloned().collect())
                .unwrap_or_default();
            (name.clone(), nodes)
        })
        .collect())
}

/// Runs `binary deploy --placement NAME --out DIR ARGS…`.
pub fn deploy(binary: &Path, placement: &str, out: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = run(Command::new(binary)
        .args(["deploy", "--placement", placement, "--out"])
        .arg(out)
        .args(args))?;
    if !output.status.success() {
        bail!("deploy --placement {placement} {args:?}: {}", text(&output));
    }
    Ok(())
}

/// Validates Kubernetes manifests against the API's schemas (strict, offline). Panics when one
/// is invalid; `None` when the validator cannot be set up here (a panic under `CI`).
pub fn validate_kubernetes(files: &[PathBuf], test: &str) -> Option<()> {
    assert!(!files.is_empty(), "{test}: no manifests to validate");
    let output = run(Command::new("bash")
        .arg(workspace_root().join("scripts/k8s-validate.sh"))
        .args(files))
    .unwrap_or_else(|e| panic!("{test}: {e:#}"));
    match output.status.code() {
        Some(0) => Some(()),
        Some(3) => unavailable(
            test,
            &format!(
                "the Kubernetes schema validator cannot be set up: {}",
                text(&output)
            ),
        ),
        _ => panic!(
            "{test}: the manifests do not validate against the Kubernetes schemas:\n{}",
            text(&output)
        ),
    }
}

/// Whether `docker-compose` (v1, the Debian package) runs here; a panic under `CI` when not.
pub fn compose_available(test: &str) -> Option<()> {
    match Command::new("docker-compose").arg("version").output() {
        Ok(o) if o.status.success() => Some(()),
        _ => unavailable(test, "docker-compose is not installed"),
    }
}

/// `docker-compose config -q` in `dir`: the file parses and follows the Compose schema, and
/// every variable it needs is in `.env`.
pub fn check_compose(dir: &Path) -> anyhow::Result<()> {
    let output = run(Command::new("docker-compose")
        .current_dir(dir)
        .args(["config", "-q"]))?;
    if !output.status.success() {
        bail!(
            "docker-compose config in {}: {}",
            dir.display(),
            text(&output)
        );
    }
    Ok(())
}

/// The check every application's suite runs: for every placement, `deploy` with SQLite, with a
/// PostgreSQL server and NATS in the deployment and a namespace, and with a given PostgreSQL
/// server and three instances of the first node; every Kubernetes manifest validates against
/// the schemas, and every Compose file passes `docker-compose config` when docker-compose is
/// there. Returns the number of manifests files validated, or `None` when the validator is
/// not available (skipped).
pub fn every_placement_deploys(binary: &Path, test: &str) -> Option<usize> {
    let dir = tempfile_dir(test);
    let placements = placements(binary).unwrap_or_else(|e| panic!("{test}: {e:#}"));
    assert!(!placements.is_empty(), "{test}: no placements");
    let compose = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut manifests = Vec::new();
    for (name, nodes) in &placements {
        let replicas = format!("{}=3", nodes[0]);
        let variants: [&[&str]; 3] = [
            &[],
            &[
                "--with-postgres",
                "--with-nats",
                "--namespace",
                "cleave-test",
            ],
            &[
                "--postgres",
                "postgres://app:secret@db.internal:5432/postgres",
                "--replicas",
                &replicas,
            ],
        ];
        for (i, args) in variants.iter().enumerate() {
            let out = dir.join(format!("{name}-{i}"));
            deploy(binary, name, &out, args).unwrap_or_else(|e| panic!("{test}: {e:#}"));
            for entry in std::fs::read_dir(out.join("k8s")).expect("k8s/") {
                manifests.push(entry.expect("a manifest").path());
            }
            if compose {
                check_compose(&out).unwrap_or_else(|e| panic!("{test}: {e:#}"));
            }
        }
    }
    if !compose {
        unavailable(
            test,
            "docker-compose is not installed; Compose files not checked",
        )?;
    }
    let n = manifests.len();
    validate_kubernetes(&manifests, test)?;
    let _ = std::fs::remove_dir_all(&dir);
    Some(n)
}

fn tempfile_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cleave-deploy-{test}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A Compose deployment brought up with `docker-compose up -d` in its directory; taken down
/// with its volumes (`down -v`) when dropped.
pub struct ComposeUp {
    dir: PathBuf,
    project: String,
}

impl ComposeUp {
    /// `docker-compose -p PROJECT up -d` in `dir` (the output of `deploy`).
    pub fn start(dir: &Path, project: &str) -> anyhow::Result<ComposeUp> {
        let up = ComposeUp {
            dir: dir.to_path_buf(),
            project: project.to_string(),
        };
        let output = run(up.command().args(["up", "-d", "--no-build"]))?;
        if !output.status.success() {
            bail!("docker-compose up: {}\n{}", text(&output), up.logs());
        }
        Ok(up)
    }

    fn command(&self) -> Command {
        let mut command = Command::new("docker-compose");
        command
            .current_dir(&self.dir)
            .args(["--no-ansi", "-p", &self.project]);
        command
    }

    /// The last lines of every service's log, for failure messages.
    pub fn logs(&self) -> String {
        run(self.command().args(["logs", "--no-color", "--tail", "40"]))
            .map(|o| text(&o))
            .unwrap_or_else(|e| format!("(no logs: {e:#})"))
    }

    /// `docker-compose ps`.
    pub fn ps(&self) -> String {
        run(self.command().arg("ps"))
            .map(|o| text(&o))
            .unwrap_or_else(|e| format!("(no ps: {e:#})"))
    }
}

impl Drop for ComposeUp {
    fn drop(&mut self) {
        if std::env::var_os("CLEAVE_KEEP_COMPOSE").is_some() {
            eprintln!(
                "CLEAVE_KEEP_COMPOSE: leaving project {} up in {}",
                self.project,
                self.dir.display()
            );
            return;
        }
        match run(self.command().args(["down", "-v", "--timeout", "5"])) {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("docker-compose down: {}", text(&o)),
            Err(e) => eprintln!("docker-compose down: {e:#}"),
        }
    }
}

/// Makes sure the local PostgreSQL and NATS images exist (`scripts/images.sh`: a Debian base
/// made offline with debootstrap, then the packages), unless `CLEAVE_POSTGRES_IMAGE` /
/// `CLEAVE_NATS_IMAGE` name images to use instead (e.g. `postgres:16` with a registry).
/// Returns their references.
pub fn service_images() -> anyhow::Result<(String, String)> {
    let postgres = std::env::var("CLEAVE_POSTGRES_IMAGE").ok();
    let nats = std::env::var("CLEAVE_NATS_IMAGE").ok();
    let mut wanted = Vec::new();
    if postgres.is_none() {
        wanted.push("postgres");
    }
    if nats.is_none() {
        wanted.push("nats");
    }
    let mut built = Vec::new();
    if !wanted.is_empty() {
        let output = run(Command::new("bash")
            .arg(workspace_root().join("scripts/images.sh"))
            .args(&wanted))?;
        if !output.status.success() {
            bail!("scripts/images.sh {}: {}", wanted.join(" "), text(&output));
        }
        built = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect();
    }
    let mut built = built.into_iter();
    let postgres = postgres.unwrap_or_else(|| built.next().unwrap_or_default());
    let nats = nats.unwrap_or_else(|| built.next().unwrap_or_default());
    Ok((postgres, nats))
}
