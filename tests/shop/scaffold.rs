//! `shop new-module NAME` on a scratch copy of the workspace: right after it, the new module's
//! test passes, `verify` passes with the module counted, the published contracts and module
//! docs are regenerated, and a call of a request the module did not declare does not compile.
//!
//! It builds the scratch workspace with the same target directory as this build, so only the
//! workspace's own crates compile again (a minute or two).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `cargo ARGS` in `dir`, sharing this build's target directory, quietly.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    Command::new(cargo)
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run cargo")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Puts this build's `shop` binary back when dropped. The scratch workspace shares the target
/// directory, so its `cargo run -p shop` replaces `target/debug/shop` (the binary every other
/// test runs) with one that has a sixth module. The test runs alone (`.config/nextest.toml`),
/// and leaves the binary as it found it, even when it fails.
struct RestoreBinary {
    binary: PathBuf,
    saved: tempfile::TempDir,
}

impl RestoreBinary {
    fn save() -> RestoreBinary {
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_shop"));
        let saved = tempfile::tempdir().unwrap();
        std::fs::copy(&binary, saved.path().join("shop")).unwrap();
        RestoreBinary { binary, saved }
    }
}

impl Drop for RestoreBinary {
    fn drop(&mut self) {
        // Copied beside it, then renamed over it: the binary is never half written.
        let beside = self.binary.with_extension("restoring");
        let restored = std::fs::copy(self.saved.path().join("shop"), &beside)
            .and_then(|_| std::fs::rename(&beside, &self.binary));
        if let Err(e) = restored {
            eprintln!("could not restore {}: {e}", self.binary.display());
        }
    }
}

#[test]
fn a_new_module_is_wired_verified_and_tested_in_one_command() {
    let _restore = RestoreBinary::save();
    let scratch = crate::support::scratch_copy(&root(), &[".git", "target"]);
    let dir = scratch.path();
    let manifest = dir.join("Cargo.toml");
    let before = std::fs::read_to_string(&manifest).unwrap();

    let created = crate::support::shop_command(dir)
        .args(["new-module", "shipping", "--manifest-path"])
        .arg(&manifest)
        .env(
            "CARGO_TARGET_DIR",
            std::env::var("CARGO_TARGET_DIR")
                .unwrap_or_else(|_| root().join("target").display().to_string()),
        )
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created));
    for file in [
        "modules/shipping/api/src/lib.rs",
        "modules/shipping/src/lib.rs",
        "modules/shipping/tests/shipping.rs",
        "migrations/shipping/src/lib.rs",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    // The contract was generated from the new code, and the module docs with it.
    let contract = std::fs::read_to_string(dir.join("modules/shipping/api/contract.json")).unwrap();
    assert!(contract.contains("shipping.ping"), "{contract}");
    assert!(dir.join("docs/modules/shipping.md").exists());
    // ...and the wire protocol's OpenAPI document, which now has the new request's path.
    let wire = std::fs::read_to_string(dir.join("docs/wire-protocol.openapi.json")).unwrap();
    assert!(
        wire.contains("/_cleave/v1/requests/shipping.ping"),
        "docs/wire-protocol.openapi.json was not regenerated"
    );
    // The workspace's own manifest gained dependencies only (its member globs cover the
    // new folders); the application gained its feature and dependencies.
    let after = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        after.contains("shipping-api = { path = \"modules/shipping/api\" }"),
        "{after}"
    );
    assert_eq!(
        before.lines().filter(|l| l.contains("modules/*")).count(),
        after.lines().filter(|l| l.contains("modules/*")).count()
    );

    let verified = cargo(dir, &["run", "--quiet", "-p", "shop", "--", "verify"]);
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        text(&verified).contains("ok: 6 modules"),
        "{}",
        text(&verified)
    );

    let tested = cargo(dir, &["test", "--quiet", "-p", "shipping"]);
    assert!(tested.status.success(), "{}", text(&tested));

    // A call of a request the module does not declare in `sends` is a compile error that says
    // which list to extend.
    let handler = dir.join("modules/shipping/src/ping.rs");
    let code = std::fs::read_to_string(&handler).unwrap();
    std::fs::write(
        &handler,
        code.replace(
            "pub(crate) struct PingHandler {\n    db: cleave::Database,\n}",
            "pub(crate) struct PingHandler {\n    db: cleave::Database,\n}\n\n#[allow(dead_code)]\nasync fn undeclared(bus: crate::Bus) {\n    let _ = bus.call(shipping_api::Ping { message: String::new() }).await;\n}",
        ),
    )
    .unwrap();
    let refused = cargo(dir, &["build", "--quiet", "-p", "shipping"]);
    assert!(!refused.status.success(), "an undeclared call compiled");
    let message = text(&refused);
    assert!(
        message.contains("this module does not declare that it sends `Ping`")
            && message.contains("add `Ping` to `sends: [...]`"),
        "{message}"
    );
}
