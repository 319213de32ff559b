//! The real `library` binary: `verify` on this workspace, `modules`, `placements`, and a
//! build that links one module only.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's Cargo.toml (the library lives in `examples/library/app`).
pub(crate) fn workspace_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../Cargo.toml")
        .canonicalize()
        .expect("the workspace manifest")
}

/// A command for the `library` binary in `workdir`, ignoring the developer's own `LIBRARY_*`
/// settings and `library.toml`.
fn library(workdir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_library"));
    command.current_dir(workdir);
    for (key, _) in std::env::vars() {
        if key.starts_with("LIBRARY_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "warn");
    command
}

#[test]
fn library_verify_passes_on_this_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = workspace_manifest();
    let out = library(dir.path())
        .args(["verify", "--manifest-path"])
        .arg(&manifest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("ok: 3 modules keep their boundaries"),
        "{stdout}"
    );
}

/// A scratch copy of the workspace's manifests and sources, to break on purpose.
fn scratch_workspace() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if [".git", "target", "docs"].iter().any(|skip| name == *skip) {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                copy(&path, &to.join(&name));
            } else {
                std::fs::copy(&path, to.join(&name)).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(workspace_manifest().parent().unwrap(), dir.path());
    dir
}

/// The rules do look at the library's modules: loans using members' implementation instead
/// of its api crate is reported, with the fix.
#[test]
fn library_verify_rejects_a_module_using_another_modules_implementation() {
    let scratch = scratch_workspace();
    let manifest = scratch
        .path()
        .join("examples/library/modules/loans/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen(
            "[dependencies]\n",
            "[dependencies]\nmembers.workspace = true\n",
            1,
        ),
    )
    .unwrap();
    let out = library(scratch.path())
        .args(["verify", "--manifest-path"])
        .arg(scratch.path().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[implementation-dependencies] `loans`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("depend on `members-api` instead"),
        "{stdout}"
    );
}

#[test]
fn modules_lists_the_three_modules_with_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = library(dir.path()).arg("modules").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "books: ",
        "loans: ",
        "members: ",
        "may call   books, members",
        "members.check_borrower",
        "books.take_copy",
        "loans.book_borrowed, loans.book_returned",
        "POST /api/loans",
        "POST /api/loans/{id}/return",
    ] {
        assert!(text.contains(line), "`{line}` missing:\n{text}");
    }
}

#[test]
fn placements_include_the_monolith_and_loans_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let out = library(dir.path()).arg("placements").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("monolith: Every module in one process."),
        "{text}"
    );
    assert!(text.contains("loans-extracted: "), "{text}");
    assert!(text.contains("books, members"), "{text}");
}

#[test]
fn migrate_creates_the_default_database_named_after_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let out = library(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("library.db").exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("books, loans, members"));
}

/// `--no-default-features --features loans` links the loans implementation and no other
/// module's, and keeps every contract: checked on the graph cargo resolves for that build.
#[test]
fn a_single_module_build_links_only_that_module() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--manifest-path"])
        .arg(workspace_manifest())
        .args([
            "-p",
            "library",
            "--no-default-features",
            "--features",
            "loans",
        ])
        .args(["-e", "normal", "--prefix", "none", "-f", "{p}"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let mut implementations: Vec<&str> = tree
        .lines()
        .filter_map(|line| {
            let path = line
                .split_once('(')?
                .1
                .trim_end_matches(" (*)")
                .trim_end_matches(')');
            let module = path.rsplit_once("/examples/library/modules/")?.1;
            (!module.contains('/')).then_some(module)
        })
        .collect();
    implementations.sort_unstable();
    implementations.dedup();
    assert_eq!(
        implementations,
        ["loans"],
        "implementation crates linked:\n{tree}"
    );
    for api in ["members-api", "books-api"] {
        assert!(tree.contains(api), "contracts stay linked:\n{tree}");
    }
}
