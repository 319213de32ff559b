//! The crate graph of a workspace, from `cargo metadata`, and the tables named in source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, PackageId};

/// One package of the resolved graph.
#[derive(Debug, Clone)]
pub struct CrateNode {
    /// Package name.
    pub name: String,
    /// Directory of its `Cargo.toml`.
    pub dir: PathBuf,
    /// Whether it belongs to the workspace.
    pub member: bool,
    /// Packages it depends on for normal (non-dev, non-build) use, directly.
    pub deps: BTreeSet<PackageId>,
}

/// The packages of a workspace and their normal dependencies.
#[derive(Debug, Clone)]
pub struct CrateGraph {
    /// The workspace root.
    pub root: PathBuf,
    /// Every package, by id.
    pub crates: BTreeMap<PackageId, CrateNode>,
}

impl CrateGraph {
    /// Runs `cargo metadata` on the workspace of `manifest`, offline and for the host
    /// platform only (the packages a build here would use, all already downloaded).
    pub fn load(manifest: &Path) -> Result<CrateGraph, String> {
        let mut options = vec!["--offline".to_string()];
        if let Some(host) = host_triple() {
            options.extend(["--filter-platform".to_string(), host]);
        }
        let metadata = MetadataCommand::new()
            .manifest_path(manifest)
            .other_options(options)
            .exec()
            .map_err(|e| format!("cargo metadata failed for {}: {e}", manifest.display()))?;
        Ok(Self::from_metadata(&metadata))
    }

    /// Builds the graph from already loaded metadata.
    pub fn from_metadata(metadata: &Metadata) -> CrateGraph {
        let members: BTreeSet<&PackageId> = metadata.workspace_members.iter().collect();
        let mut crates: BTreeMap<PackageId, CrateNode> = metadata
            .packages
            .iter()
            .map(|p| {
                let dir = p
                    .manifest_path
                    .parent()
                    .map(|d| d.as_std_path().to_path_buf())
                    .unwrap_or_default();
                (
                    p.id.clone(),
                    CrateNode {
                        name: p.name.to_string(),
                        dir,
                        member: members.contains(&p.id),
                        deps: BTreeSet::new(),
                    },
                )
            })
            .collect();
        if let Some(resolve) = &metadata.resolve {
            for node in &resolve.nodes {
                let normal: BTreeSet<PackageId> = node
                    .deps
                    .iter()
                    .filter(|d| d.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal))
                    .map(|d| d.pkg.clone())
                    .collect();
                if let Some(c) = crates.get_mut(&node.id) {
                    c.deps = normal;
                }
            }
        }
        CrateGraph {
            root: metadata.workspace_root.as_std_path().to_path_buf(),
            crates,
        }
    }

    /// The workspace package whose manifest is in `dir` (relative to the root).
    pub fn member_at(&self, dir: &str) -> Option<(&PackageId, &CrateNode)> {
        let dir = self.root.join(dir);
        self.crates.iter().find(|(_, c)| c.member && c.dir == dir)
    }

    /// The workspace package called `name`.
    pub fn member_named(&self, name: &str) -> Option<(&PackageId, &CrateNode)> {
        self.crates.iter().find(|(_, c)| c.member && c.name == name)
    }

    /// The directory of the workspace package called `name`.
    pub fn package_dir(&self, name: &str) -> Option<&Path> {
        self.member_named(name).map(|(_, c)| c.dir.as_path())
    }

    /// Everything `id` depends on, directly or not, for normal use.
    pub fn transitive(&self, id: &PackageId) -> BTreeSet<PackageId> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<PackageId> = self
            .crates
            .get(id)
            .map(|c| c.deps.iter().cloned().collect())
            .unwrap_or_default();
        while let Some(next) = stack.pop() {
            if seen.insert(next.clone())
                && let Some(c) = self.crates.get(&next)
            {
                stack.extend(c.deps.iter().cloned());
            }
        }
        seen
    }

    /// A package's workspace-relative directory, for messages.
    pub fn describe(&self, id: &PackageId) -> String {
        match self.crates.get(id) {
            Some(c) if c.member => format!(
                "`{}` ({})",
                c.name,
                c.dir.strip_prefix(&self.root).unwrap_or(&c.dir).display()
            ),
            Some(c) => format!("`{}`", c.name),
            None => format!("`{id}`"),
        }
    }
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = std::process::Command::new(rustc).arg("-vV").output().ok()?;
    String::from_utf8(out.stdout)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
}

/// The tables named by `#[sea_orm(table_name = "…")]` in the Rust files under `dir`, with the
/// file that names each.
pub fn entity_tables(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for (i, _) in text.match_indices("table_name") {
                    let rest = &text[i + "table_name".len()..];
                    let rest = rest.trim_start();
                    if let Some(rest) = rest.strip_prefix('=')
                        && let Some(rest) = rest.trim_start().strip_prefix('"')
                        && let Some(end) = rest.find('"')
                    {
                        found.push((path.clone(), rest[..end].to_string()));
                    }
                }
            }
        }
    }
    found.sort();
    found
}
