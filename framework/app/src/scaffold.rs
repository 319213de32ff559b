//! `<app> new-module NAME`: creates a module and wires it into the workspace and the
//! application, so that `verify`, the new module's test and the whole suite pass right after.
//!
//! Where things go is read from the workspace (`cargo metadata`), not assumed: the
//! application's crate is the package that builds the binary named after the application; the
//! module's crates go into the `modules/` and `migrations/` folders next to that crate's folder
//! (`app/` → `modules/<name>`; `examples/library/app/` → `examples/library/modules/<name>`).
//! Existing files are edited in place, keeping their formatting (`toml_edit`): the workspace's
//! members (unless a glob already covers the new folders) and dependencies, the application's
//! features and dependencies, and its `src/linked_modules.rs`. Then it runs the application's
//! own `contracts --write` (and `modules --write-docs` where the application keeps module docs)
//! through cargo, so the generated files match the new code.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Value};

use crate::App;

/// Creates module `name` in the workspace of `manifest` and wires it into `app`.
pub fn new_module(app: &App, name: &str, manifest: &Path) -> anyhow::Result<()> {
    check_name(name)?;
    let graph = cleave_verify::CrateGraph::load(manifest).map_err(anyhow::Error::msg)?;
    let root = graph.root.clone();
    let app_dir = graph
        .crates
        .values()
        .find(|c| {
            c.member
                && c.dir.join("src/main.rs").exists()
                && binary_name(&c.dir) == Some(app.name().as_str().to_string())
        })
        .map(|c| c.dir.clone())
        .with_context(|| {
            format!(
                "no crate of the workspace at {} builds the `{}` binary",
                root.display(),
                app.name()
            )
        })?;
    for taken in [
        name.to_string(),
        format!("{name}-api"),
        format!("{name}-migrations"),
    ] {
        if graph.member_named(&taken).is_some() {
            bail!("the workspace already has a crate `{taken}`");
        }
    }
    let home = app_dir
        .parent()
        .context("the application's crate has no parent folder")?;
    let module_dir = home.join("modules").join(name);
    let migrations_dir = home.join("migrations").join(name);
    for dir in [&module_dir, &migrations_dir] {
        if dir.exists() {
            bail!("`{}` exists already", dir.display());
        }
    }
    let files = Files::new(app, name);
    write(&module_dir.join("api/Cargo.toml"), &files.api_manifest)?;
    write(&module_dir.join("api/src/lib.rs"), &files.api_lib)?;
    write(&module_dir.join("api/contract.json"), "")?;
    write(&module_dir.join("Cargo.toml"), &files.module_manifest)?;
    write(&module_dir.join("src/lib.rs"), &files.module_lib)?;
    write(&module_dir.join("src/ping.rs"), &files.module_ping)?;
    write(
        &module_dir.join(format!("tests/{name}.rs")),
        &files.module_test,
    )?;
    write(
        &migrations_dir.join("Cargo.toml"),
        &files.migrations_manifest,
    )?;
    write(&migrations_dir.join("src/lib.rs"), &files.migrations_lib)?;
    write(
        &migrations_dir.join("src/m20260101_000001_create_tables.rs"),
        &files.migration,
    )?;
    let relative = |dir: &Path| {
        dir.strip_prefix(&root)
            .unwrap_or(dir)
            .to_string_lossy()
            .replace('\\', "/")
    };
    wire_workspace(
        &root.join("Cargo.toml"),
        name,
        &relative(&module_dir),
        &relative(&migrations_dir),
    )?;
    wire_application(&app_dir, name)?;
    println!("created module `{name}`:");
    for dir in [&module_dir, &migrations_dir] {
        println!("  {}", relative(dir));
    }
    println!(
        "  wired into {} and {}",
        relative(&root.join("Cargo.toml")),
        relative(&app_dir)
    );
    regenerate(app, &root, &app_dir, manifest)?;
    println!(
        "next: `cargo test -p {name}`, then `cargo run -p {} -- verify`",
        package_name(&app_dir).unwrap_or_else(|| app.name().to_string())
    );
    Ok(())
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!(
            "a module name has lowercase letters, digits and `_`, starting with a letter (it prefixes the module's messages and tables); got `{name}`"
        );
    }
    if ["api", "app", "cleave", "test", "tests"].contains(&name) {
        bail!("`{name}` is reserved; choose another module name");
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create `{}`", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("Failed to write `{}`", path.display()))
}

fn read_toml(path: &Path) -> anyhow::Result<DocumentMut> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Failed to read `{}`", path.display()))?;
    text.parse()
        .with_context(|| format!("`{}` is not valid TOML", path.display()))
}

fn package_name(dir: &Path) -> Option<String> {
    let document = read_toml(&dir.join("Cargo.toml")).ok()?;
    document["package"]["name"].as_str().map(str::to_string)
}

/// The binary a crate builds from `src/main.rs`: its `[[bin]]` name, else its package name.
fn binary_name(dir: &Path) -> Option<String> {
    let document = read_toml(&dir.join("Cargo.toml")).ok()?;
    if let Some(bins) = document.get("bin").and_then(Item::as_array_of_tables)
        && let Some(name) = bins
            .iter()
            .find(|b| {
                b.get("path")
                    .and_then(Item::as_str)
                    .is_none_or(|p| p == "src/main.rs")
            })
            .and_then(|b| b.get("name"))
            .and_then(Item::as_str)
    {
        return Some(name.to_string());
    }
    document["package"]["name"].as_str().map(str::to_string)
}

fn path_dependency(path: &str) -> Item {
    let mut table = InlineTable::new();
    table.insert("path", Value::from(path));
    Item::Value(Value::InlineTable(table))
}

/// Adds the new crates to the workspace's members (unless a glob covers them) and
/// dependencies.
fn wire_workspace(
    manifest: &Path,
    name: &str,
    module_dir: &str,
    migrations_dir: &str,
) -> anyhow::Result<()> {
    let mut document = read_toml(manifest)?;
    let workspace = document["workspace"]
        .as_table_mut()
        .context("the root Cargo.toml has no [workspace]")?;
    if let Some(members) = workspace.get_mut("members").and_then(Item::as_array_mut) {
        for dir in [
            format!("{module_dir}/api"),
            module_dir.to_string(),
            migrations_dir.to_string(),
        ] {
            let covered = members
                .iter()
                .filter_map(|m| m.as_str())
                .any(|m| m == dir || glob_covers(m, &dir));
            if !covered {
                members.push(dir);
            }
        }
    }
    let dependencies = workspace
        .entry("dependencies")
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .context("[workspace.dependencies] is not a table")?;
    dependencies.insert(
        &format!("{name}-api"),
        path_dependency(&format!("{module_dir}/api")),
    );
    dependencies.insert(name, path_dependency(module_dir));
    dependencies.insert(
        &format!("{name}-migrations"),
        path_dependency(migrations_dir),
    );
    std::fs::write(manifest, document.to_string())
        .with_context(|| format!("Failed to write `{}`", manifest.display()))
}

/// Whether a members glob of the form `dir/*` or `dir/*/api` covers `path`.
fn glob_covers(glob: &str, path: &str) -> bool {
    let (g, p): (Vec<&str>, Vec<&str>) = (glob.split('/').collect(), path.split('/').collect());
    g.len() == p.len() && g.iter().zip(&p).all(|(g, p)| *g == "*" || g == p)
}

/// Adds the module to the application: its feature (on by default), its dependencies, its line
/// in `src/linked_modules.rs`.
fn wire_application(app_dir: &Path, name: &str) -> anyhow::Result<()> {
    let manifest = app_dir.join("Cargo.toml");
    let mut document = read_toml(&manifest)?;
    let features = document
        .entry("features")
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .context("[features] is not a table")?;
    if let Some(default) = features.get_mut("default").and_then(Item::as_array_mut) {
        default.push(name);
    } else {
        let mut default = Array::new();
        default.push(name);
        features.insert("default", Item::Value(Value::Array(default)));
    }
    let mut enable = Array::new();
    enable.push(format!("dep:{name}"));
    features.insert(name, Item::Value(Value::Array(enable)));
    let dependencies = document
        .entry("dependencies")
        .or_insert_with(toml_edit::table)
        .as_table_mut()
        .context("[dependencies] is not a table")?;
    let mut api = InlineTable::new();
    api.insert("workspace", Value::from(true));
    dependencies.insert(&format!("{name}-api"), Item::Value(Value::InlineTable(api)));
    let mut implementation = InlineTable::new();
    implementation.insert("workspace", Value::from(true));
    implementation.insert("optional", Value::from(true));
    dependencies.insert(name, Item::Value(Value::InlineTable(implementation)));
    std::fs::write(&manifest, document.to_string())
        .with_context(|| format!("Failed to write `{}`", manifest.display()))?;

    let linked = app_dir.join("src/linked_modules.rs");
    let mut text = std::fs::read_to_string(&linked).with_context(|| {
        format!(
            "Failed to read `{}` (the file where the binary names its module crates)",
            linked.display()
        )
    })?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\nuse {name}_api as _;\n#[cfg(feature = \"{name}\")]\nuse {name} as _;\n"
    ));
    std::fs::write(&linked, text).with_context(|| format!("Failed to write `{}`", linked.display()))
}

/// Runs the application's `contracts --write` (and `modules --write-docs`, `wire-spec --write`
/// and `openapi --write` where it keeps those generated files) with the new module linked.
fn regenerate(app: &App, root: &Path, app_dir: &Path, manifest: &Path) -> anyhow::Result<()> {
    let package = package_name(app_dir).context("the application's crate has no name")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = std::fs::canonicalize(manifest).unwrap_or_else(|_| manifest.to_path_buf());
    let mut runs: Vec<Vec<String>> = vec![vec![
        "contracts".into(),
        "--write".into(),
        "--manifest-path".into(),
        manifest.display().to_string(),
    ]];
    let docs: PathBuf = app_dir
        .parent()
        .map(|home| home.join("docs/modules"))
        .filter(|d| d.is_dir())
        .or_else(|| {
            Some(root.join("docs/modules")).filter(|d| d.is_dir() && app_dir.parent() == Some(root))
        })
        .unwrap_or_default();
    if !docs.as_os_str().is_empty() {
        runs.push(vec![
            "modules".into(),
            "--write-docs".into(),
            docs.display().to_string(),
        ]);
        // The generated OpenAPI documents beside the module docs, where the application keeps
        // them: the wire protocol's (the new module's messages) and the public API's.
        if let Some(home) = docs.parent() {
            for (file, command) in [
                ("wire-protocol.openapi.json", "wire-spec"),
                ("openapi.json", "openapi"),
            ] {
                let path = home.join(file);
                if path.is_file() {
                    runs.push(vec![
                        command.into(),
                        "--write".into(),
                        path.display().to_string(),
                    ]);
                }
            }
        }
    }
    for args in runs {
        println!(
            "running `{} {}` (builds the application first) …",
            app.name(),
            args.join(" ")
        );
        let status = Command::new(&cargo)
            .current_dir(root)
            .args(["run", "--quiet", "-p", &package, "--"])
            .args(&args)
            .status()
            .with_context(|| format!("Failed to run `{cargo}`"))?;
        if !status.success() {
            bail!(
                "`cargo run -p {package} -- {}` failed; the module's files are written, fix the error and run it again",
                args.join(" ")
            );
        }
    }
    Ok(())
}

/// The files of a new module, from templates.
struct Files {
    api_manifest: String,
    api_lib: String,
    module_manifest: String,
    module_lib: String,
    module_ping: String,
    module_test: String,
    migrations_manifest: String,
    migrations_lib: String,
    migration: String,
}

/// `shipping_label` → `ShippingLabel`.
fn camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

impl Files {
    fn new(app: &App, name: &str) -> Files {
        let camel = camel(name);
        let fill = |template: &str| {
            template
                .replace("{{name}}", name)
                .replace("{{Name}}", &camel)
                .replace("{{app}}", app.name().as_str())
        };
        Files {
            api_manifest: fill(API_MANIFEST),
            api_lib: fill(API_LIB),
            module_manifest: fill(MODULE_MANIFEST),
            module_lib: fill(MODULE_LIB),
            module_ping: fill(MODULE_PING),
            module_test: fill(MODULE_TEST),
            migrations_manifest: fill(MIGRATIONS_MANIFEST),
            migrations_lib: fill(MIGRATIONS_LIB),
            migration: fill(MIGRATION),
        }
    }
}

const API_MANIFEST: &str = r#"[package]
name = "{{name}}-api"
description = "The public contract of the {{name}} module: its requests, responses, events and errors. Nothing else."
edition.workspace = true
version.workspace = true
license.workspace = true
publish.workspace = true

# Invariant: an api crate depends on the contract crate and plain-data crates only; never on
# sea-orm, actix-web or any implementation crate.
[dependencies]
cleave-contract.workspace = true
schemars.workspace = true
serde.workspace = true
thiserror.workspace = true

[lints]
workspace = true
"#;

const API_LIB: &str = r#"//! Contract of the `{{name}}` module.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// Asks the module whether it is there; answers how many times it was asked. A first request
/// to replace with the module's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ping {
    /// Said back in the answer.
    pub message: String,
}

/// The answer to a ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Pong {
    /// The ping's message.
    pub message: String,
    /// How many pings the module has answered, this one included.
    pub count: u64,
}

/// Why the module refused a request.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, thiserror::Error,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum {{Name}}Error {
    /// The message was empty.
    #[error("the message is empty")]
    EmptyMessage,
}

cleave_contract::contract! {
    module: "{{name}}",
    version: (1, 0),
    requests: {
        Ping: "{{name}}.ping" -> Pong, {{Name}}Error;
    },
    events: {},
}
"#;

const MODULE_MANIFEST: &str = r#"[package]
name = "{{name}}"
description = "The {{name}} module."
edition.workspace = true
version.workspace = true
license.workspace = true
publish.workspace = true

# Invariant: depends on the framework, its own api crate and migration set, and the api crates
# of the modules whose requests it sends or whose events it subscribes to; never on another
# implementation crate.
[dependencies]
cleave.workspace = true
{{name}}-api.workspace = true
{{name}}-migrations.workspace = true
async-trait.workspace = true
chrono.workspace = true
sea-orm.workspace = true
utoipa.workspace = true

[dev-dependencies]
cleave = { workspace = true, features = ["testing"] }
tokio.workspace = true

[lints]
workspace = true
"#;

const MODULE_LIB: &str = r#"//! The `{{name}}` module. Owns the `{{name}}_pings` table.

use {{name}}_api::Ping;

mod ping;

cleave::module! {
    api: {{name}}_api,
    summary: "Answers pings (a first request, to replace with the module's own).",
    migrations: {{name}}_migrations::Migrator,
    sends: [],
    handles: { Ping => ping::PingHandler::new },
    subscribes: {},
    state: [],
    routes: [],
}
"#;

const MODULE_PING: &str = r#"//! `{{name}}.ping`: records the ping and answers how many there were.

use async_trait::async_trait;
use cleave::{Failure, Handler};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use {{name}}_api::{Ping, Pong, {{Name}}Error};

/// `{{name}}_pings`: one row per ping answered.
pub(crate) mod record {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "{{name}}_pings")]
    pub(crate) struct Model {
        #[sea_orm(primary_key)]
        pub(crate) id: i64,
        pub(crate) message: String,
        pub(crate) created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) struct PingHandler {
    db: cleave::Database,
}

impl PingHandler {
    pub(crate) fn new(context: &crate::Context) -> Self {
        PingHandler {
            db: context.db.clone(),
        }
    }
}

#[async_trait]
impl Handler<Ping> for PingHandler {
    async fn handle(&self, ping: Ping) -> Result<Pong, Failure<{{Name}}Error>> {
        if ping.message.trim().is_empty() {
            return Err(Failure::Domain({{Name}}Error::EmptyMessage));
        }
        let tx = self.db.write().await?;
        record::ActiveModel {
            message: Set(ping.message.clone()),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
        let count = record::Entity::find().count(&tx).await?;
        tx.commit().await?;
        Ok(Pong {
            message: ping.message,
            count,
        })
    }
}
"#;

const MODULE_TEST: &str = r#"//! The `{{name}}` module on its own, on a real SQLite database.

use cleave::CallError;
use cleave::testing::Harness;
use {{name}}_api::{Ping, {{Name}}Error};

#[tokio::test]
async fn pings_are_counted_and_empty_ones_refused() {
    for serialize in [false, true] {
        let app = Harness::new()
            .module(&{{name}}::MODULE)
            .serialize_messages(serialize)
            .start()
            .await;
        for expected in 1..=2 {
            let pong = app
                .bus()
                .call(Ping {
                    message: "hello".into(),
                })
                .await
                .unwrap();
            assert_eq!((pong.message.as_str(), pong.count), ("hello", expected));
        }
        match app.bus().call(Ping { message: " ".into() }).await {
            Err(CallError::Domain({{Name}}Error::EmptyMessage)) => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
"#;

const MIGRATIONS_MANIFEST: &str = r#"[package]
name = "{{name}}-migrations"
description = "The {{name}} module's tables (all prefixed `{{name}}_`)."
edition.workspace = true
version.workspace = true
license.workspace = true
publish.workspace = true

[dependencies]
sea-orm-migration.workspace = true

[lints]
workspace = true
"#;

const MIGRATIONS_LIB: &str = r#"//! Migrations of the `{{name}}` module's tables (all prefixed `{{name}}_`), tracked in
//! `seaql_migrations_{{name}}` so the module's schema evolves on its own.

use sea_orm_migration::prelude::*;

mod m20260101_000001_create_tables;

/// The `{{name}}` module's migration set.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20260101_000001_create_tables::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_{{name}}".into_iden()
    }
}
"#;

const MIGRATION: &str = r#"//! Creates `{{name}}_pings`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum {{Name}}Pings {
    Table,
    Id,
    Message,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table({{Name}}Pings::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new({{Name}}Pings::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new({{Name}}Pings::Message).text().not_null())
                    .col(
                        ColumnDef::new({{Name}}Pings::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table({{Name}}Pings::Table).to_owned())
            .await
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_globs() {
        assert_eq!(camel("shipping_label"), "ShippingLabel");
        assert!(check_name("shipping").is_ok());
        assert!(check_name("Shipping").is_err());
        assert!(check_name("ship-ping").is_err());
        assert!(check_name("api").is_err());
        assert!(glob_covers("modules/*", "modules/shipping"));
        assert!(glob_covers("modules/*/api", "modules/shipping/api"));
        assert!(!glob_covers("modules/*", "modules/shipping/api"));
        assert!(glob_covers(
            "examples/library/modules/*",
            "examples/library/modules/shipping"
        ));
    }
}
