//! `shop verify`: the boundary rules of `cleave-verify`, on this workspace and the modules
//! linked into this binary.

use std::path::Path;

use anyhow::Context;
use cleave::ModuleDescriptor;
use cleave_verify::{CrateGraph, ModuleFacts, Violation};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The tables `module`'s migrations create, found by running them on an empty SQLite database.
pub async fn tables_created_by(module: &ModuleDescriptor) -> anyhow::Result<Vec<String>> {
    let dir = tempfile::tempdir().context("Failed to create a scratch directory")?;
    let url = format!("sqlite://{}/scratch.db", dir.path().display());
    let db = cleave::db::connect(&url).await?;
    (module.migrate)(&db)
        .await
        .with_context(|| format!("Failed to run the migrations of `{}`", module.name))?;
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        ))
        .await?;
    let tracking = format!("seaql_migrations_{}", module.name);
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
/// migrations and source under `root`.
pub async fn module_facts(
    modules: &[&'static ModuleDescriptor],
    root: &Path,
) -> anyhow::Result<Vec<ModuleFacts>> {
    let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut facts = Vec::new();
    for m in modules {
        facts.push(ModuleFacts {
            name: m.name.to_string(),
            may_call: strings(m.may_call),
            sends: strings(m.sends),
            handles: strings(m.contract.handles),
            publishes: strings(m.contract.publishes),
            subscribes: strings(m.contract.subscribes),
            tables: tables_created_by(m).await?,
            entity_tables: cleave_verify::entity_tables(
                &root.join("modules").join(m.name).join("src"),
            ),
        });
    }
    Ok(facts)
}

/// Runs every rule on the workspace of `manifest` and the linked modules.
pub async fn verify_workspace(manifest: &Path) -> anyhow::Result<Vec<Violation>> {
    let graph = CrateGraph::load(manifest).map_err(anyhow::Error::msg)?;
    let facts = module_facts(&cleave::modules(), &graph.root).await?;
    Ok(cleave_verify::verify(&graph, &facts))
}
