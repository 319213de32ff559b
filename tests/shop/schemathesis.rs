//! schemathesis against the real binary: the public OpenAPI document is fuzzed with every
//! check (`--checks all`: no server errors, documented statuses, headers and bodies, valid data
//! accepted, invalid data refused, wrong methods answered 405 with `Allow`, …), a few thousand
//! cases in about a minute, over a fresh SQLite database. Any failure fails the test.
//!
//! schemathesis comes from PyPI, pinned, in a venv under the target directory
//! (`scripts/schemathesis.sh`, installed once and kept between runs). Without python3 (or its
//! venv module, or PyPI on first use) the test prints why and skips; with `CI` set it fails.
//!
//! The internal listener is fuzzed the same way against the generated description of the wire
//! protocol (`docs/wire-protocol.openapi.json`): what the spec says a receiver accepts, refuses
//! and answers is what the real one does.
//!
//! `CLEAVE_SCHEMATHESIS_SEED` picks another seed (the default is fixed so a CI run is
//! repeatable), `CLEAVE_SCHEMATHESIS_EXAMPLES` another number of examples per operation.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ShopProcess, free_address, sqlite_in};

/// Examples per operation and phase: about 3 000 cases over the shop's 11 operations.
const EXAMPLES: &str = "300";
const SEED: &str = "2";
/// The whole run is killed after this long (it takes one to two minutes on two cores, more
/// while the machine compiles beside it).
const DEADLINE: Duration = Duration::from_secs(420);

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Cannot run here: fail under CI, else say why and skip.
fn cannot_run(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("schemathesis cannot run, and CI is set: {reason}");
    }
    eprintln!("SKIPPED: schemathesis cannot run here: {reason}");
}

/// `scripts/schemathesis.sh`, run in `workdir` (where schemathesis keeps its cache).
fn script(workdir: &Path) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(workspace().join("scripts/schemathesis.sh"))
        .current_dir(workdir);
    command
}

/// Installs schemathesis if needed; `None` (after failing under CI, or printing why) when it
/// cannot run here.
fn installed(dir: &Path) -> Option<Duration> {
    if Command::new("python3")
        .arg("--version")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        cannot_run("python3 is not installed");
        return None;
    }
    let started = Instant::now();
    let install = script(dir)
        .arg("--install-only")
        .output()
        .expect("run scripts/schemathesis.sh");
    if !install.status.success() {
        let stderr = String::from_utf8_lossy(&install.stderr);
        // 3: no python3 or no venv module; anything else: pip could not install it.
        cannot_run(&format!(
            "scripts/schemathesis.sh --install-only exited with {}: {stderr}",
            install.status
        ));
        return None;
    }
    Some(started.elapsed())
}

/// Runs `schemathesis [--config-file CONFIG] run LOCATION` with every check and `extra`
/// arguments in `dir`, within the deadline; fails the test on any failure, or when no case ran.
/// Returns the summary line.
fn run(dir: &Path, config: Option<&Path>, location: &str, extra: &[&str]) -> String {
    let seed = std::env::var("CLEAVE_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into());
    let examples =
        std::env::var("CLEAVE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| EXAMPLES.into());
    let mut command = script(dir);
    if let Some(config) = config {
        command.arg("--config-file").arg(config);
    }
    let mut child = command
        .args(["run", location])
        .args([
            "--checks",
            "all",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
        ])
        // One worker: with two, CPython 3.11 sometimes fails inside hypothesis (`SystemError: AST
        // constructor recursion depth mismatch`, concurrent `ast.parse`), a flake of the tool.
        .args(["--workers", "1", "--request-timeout", "10"])
        .args(["--generation-database", "none", "--no-color"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start schemathesis");
    // Read both pipes in threads so a full pipe cannot stall it, and watch the deadline.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let run_started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break Some(status);
        }
        if run_started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let took = run_started.elapsed();
    let log = std::fs::read_to_string(dir.join("shop.log")).unwrap_or_default();
    let Some(status) = status else {
        panic!("schemathesis did not finish within {DEADLINE:?}:\n{out}\n{err}\nshop log:\n{log}");
    };
    let summary = out
        .lines()
        .find(|l| {
            l.trim_start().starts_with(|c: char| c.is_ascii_digit()) && l.contains(" generated")
        })
        .unwrap_or("no summary line")
        .trim()
        .to_string();
    assert!(
        status.success(),
        "schemathesis found failures (seed {seed}; replay with \
         `scripts/schemathesis.sh run {location} --checks all --max-examples {examples} --seed {seed} {}` \
         against `shop serve`):\n{out}\n{err}\nshop log:\n{log}",
        extra.join(" ")
    );
    assert!(
        summary.contains("passed"),
        "no test case ran: {summary}\n{out}\n{err}"
    );
    format!(
        "{summary} in {:.0} s (seed {seed}, {examples} examples per operation)",
        took.as_secs_f64()
    )
}

#[test]
fn the_public_api_holds_to_its_openapi_document_under_schemathesis() {
    let dir = tempfile::tempdir().unwrap();
    let Some(install) = installed(dir.path()) else {
        return;
    };
    let shop = ShopProcess::start(dir.path(), &sqlite_in(dir.path()), &[]);
    let summary = run(
        dir.path(),
        None,
        &format!("{}/api/openapi.json", shop.base),
        &[],
    );
    eprintln!(
        "schemathesis, public API: {summary}; install/check of the venv {:.1} s",
        install.as_secs_f64()
    );
    drop(shop);
}

#[test]
fn the_internal_listener_holds_to_the_wire_spec_under_schemathesis() {
    let dir = tempfile::tempdir().unwrap();
    if installed(dir.path()).is_none() {
        return;
    }
    let internal = free_address();
    let token = "schemathesis-internal-token";
    let shop = ShopProcess::start_on(
        dir.path(),
        &sqlite_in(dir.path()),
        "127.0.0.1:0",
        &internal,
        &[("SHOP_INTERNAL_TOKEN", token)],
    );
    let spec = workspace().join("docs/wire-protocol.openapi.json");
    let config = workspace().join("scripts/schemathesis-internal.toml");
    let summary = run(
        dir.path(),
        Some(&config),
        spec.to_str().unwrap(),
        &[
            "--url",
            &format!("http://{internal}"),
            "--header",
            &format!("Authorization: Bearer {token}"),
        ],
    );
    eprintln!("schemathesis, internal listener: {summary}");
    drop(shop);
}
