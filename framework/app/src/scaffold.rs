//! Scaffolding (filled in below).

use std::path::Path;

use crate::App;

/// Creates module `name` in the workspace of `manifest`.
pub fn new_module(_app: &App, name: &str, _manifest: &Path) -> anyhow::Result<()> {
    anyhow::bail!("new-module {name}: not written yet")
}
