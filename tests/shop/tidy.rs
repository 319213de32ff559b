//! Tidiness rules of the tree that the compiler does not check.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// Every Rust file says what it is for in its first line (a `//!` comment), as in
/// rust-analyzer: a reader opening any file learns its purpose first.
#[test]
fn every_rust_file_opens_with_a_doc_comment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for top in [
        "app",
        "examples",
        "extract",
        "framework",
        "migrations",
        "modules",
        "tests",
    ] {
        rust_files(&root.join(top), &mut files);
    }
    assert!(files.len() > 40, "found only {} files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading //! line: {missing:?}"
    );
}

/// The framework names no application: `shop` appears in no code or manifest line of the
/// framework crates, the extraction crate or the comparison library (comments and doc examples
/// may use it as an example). An application gives its name once, to `cleave_app::App::new`.
#[test]
fn the_framework_names_no_application() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for dir in ["framework", "extract", "tests/compare"] {
        collect(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") || code.starts_with('#') {
                continue;
            }
            if code.to_ascii_lowercase().contains("shop") {
                found.push(format!(
                    "{}:{}: {}",
                    file.strip_prefix(root).unwrap_or(file).display(),
                    n + 1,
                    code
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the framework names the shop:\n{}",
        found.join("\n")
    );
}

/// Rust sources and Cargo manifests below `dir`.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut rust = Vec::new();
    rust_files(dir, &mut rust);
    out.extend(rust);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("target") {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "Cargo.toml") {
                out.push(path);
            }
        }
    }
}
