//! The `verify` command: the boundary rules of `cleave-verify`, on this workspace and the
//! modules linked into this binary.

use std::path::Path;

use anyhow::Context;
use cleave::ModuleDescriptor;
use cleave_verify::{CrateGraph, ModuleFacts, Violation};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The tables `module`'s migrations create, found by running them on an empty SQLite database.
pub async fn tables_created_by(module: &ModuleDescriptor) -> anyhow::Result<Vec<String>> {
    let dir = tempfile::tempdir().context("Failed to create a scratch directory")?;
    let url = format!("sqlite://{}/scratch.db?mode=rwc", dir.path().display());
    let db = sea_orm::Database::connect(&url).await?;
    (module.migrate)(&db)
        .await
        .with_context(|| format!("Failed to run the migrations of `{}`", module.name()))?;
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        ))
        .await?;
    let tracking = format!("seaql_migrations_{}", module.name());
    let mut tables = Vec::new();
    for row in rows {
        let name: String = row.try_get("", "name")?;
        if name != tracking && !name.starts_with("sqlite_") {
            tables.push(name);
        }
    }
    db.close().await.ok();
    Ok(tables)
}

/// What verification needs to know about each module, from its descriptor, contract,
/// migrations and the source of its implementation crate (found in `graph` by the module's
/// name).
pub async fn module_facts(
    modules: &[&'static ModuleDescriptor],
    graph: &CrateGraph,
) -> anyhow::Result<Vec<ModuleFacts>> {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut facts = Vec::new();
    for m in modules {
        let entity_tables = graph
            .package_dir(m.name())
            .map(|dir| cleave_verify::entity_tables(&dir.join("src")))
            .unwrap_or_default();
        facts.push(ModuleFacts {
            name: m.name().to_string(),
            may_call: strings(&m.may_call()),
            sends: strings(m.sends),
            handles: strings(m.contract.handles),
            publishes: strings(m.contract.publishes),
            subscribes: strings(m.subscribes),
            tables: tables_created_by(m).await?,
            entity_tables,
        });
    }
    Ok(facts)
}

/// Runs every rule on the workspace of `manifest` and the linked modules.
pub async fn verify_workspace(manifest: &Path) -> anyhow::Result<Vec<Violation>> {
    let graph = CrateGraph::load(manifest).map_err(anyhow::Error::msg)?;
    let facts = module_facts(&cleave::modules(), &graph).await?;
    Ok(cleave_verify::verify(&graph, &facts))
}
