//! The architecture test: the boundary rules hold on this workspace, and each rule is shown
//! rejecting a fixture that breaks it on purpose. Also the rendered structure (graph,
//! canvases) against the code, and the runtime structure endpoint.

use std::path::{Path, PathBuf};

use cleave_app::docs::{self, GraphFormat};
use cleave_app::verify::{module_facts, verify_workspace};
use cleave_verify::{CrateGraph, ModuleFacts, Rule, Violation, verify};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A scratch copy of the workspace's manifests and sources, to break on purpose.
fn scratch_workspace() -> tempfile::TempDir {
    crate::support::scratch_copy(&root(), &[".git", "target", "docs"])
}

fn append(path: &Path, after: &str, line: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(after), "{} has no `{after}`", path.display());
    std::fs::write(path, text.replacen(after, &format!("{after}{line}\n"), 1)).unwrap();
}

async fn real_facts(root: &Path) -> Vec<ModuleFacts> {
    let graph = CrateGraph::load(&root.join("Cargo.toml")).unwrap();
    module_facts(&cleave::modules(), &graph).await.unwrap()
}

fn only(violations: &[Violation], rule: Rule) -> Vec<&Violation> {
    let matching: Vec<_> = violations.iter().filter(|v| v.rule == rule).collect();
    assert!(
        !matching.is_empty(),
        "expected a `{}` violation in {violations:#?}",
        rule.id()
    );
    matching
}

#[tokio::test]
async fn the_workspace_keeps_its_boundaries() {
    let violations = verify_workspace(&root().join("Cargo.toml")).await.unwrap();
    assert!(
        violations.is_empty(),
        "{}",
        violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
async fn an_implementation_crate_using_another_implementation_is_rejected() {
    let scratch = scratch_workspace();
    append(
        &scratch.path().join("modules/orders/Cargo.toml"),
        "[dependencies]\n",
        "billing.workspace = true",
    );
    let graph = CrateGraph::load(&scratch.path().join("Cargo.toml")).unwrap();
    let violations = verify(&graph, &real_facts(scratch.path()).await);
    let found = only(&violations, Rule::ImplementationDependencies);
    let text = found[0].to_string();
    assert!(
        text.contains("[implementation-dependencies] `orders`"),
        "{text}"
    );
    assert!(
        text.contains("depends on `billing` (modules/billing)"),
        "{text}"
    );
    assert!(text.contains("depend on `billing-api` instead"), "{text}");
}

#[tokio::test]
async fn an_api_crate_with_a_heavy_dependency_is_rejected() {
    let scratch = scratch_workspace();
    append(
        &scratch.path().join("modules/catalog/api/Cargo.toml"),
        "[dependencies]\n",
        "sea-orm.workspace = true",
    );
    let graph = CrateGraph::load(&scratch.path().join("Cargo.toml")).unwrap();
    let violations = verify(&graph, &real_facts(scratch.path()).await);
    let text = only(&violations, Rule::LightApi)[0].to_string();
    assert!(text.contains("[light-api] `catalog-api`"), "{text}");
    assert!(text.contains("`sea-orm`"), "{text}");
}

#[tokio::test]
async fn an_entity_naming_another_modules_table_is_rejected() {
    let scratch = scratch_workspace();
    std::fs::write(
        scratch.path().join("modules/orders/src/peek.rs"),
        "//! A shortcut that breaks the boundary.\n#[sea_orm(table_name = \"billing_invoices\")]\npub struct Model;\n",
    )
    .unwrap();
    let graph = CrateGraph::load(&scratch.path().join("Cargo.toml")).unwrap();
    let violations = verify(&graph, &real_facts(scratch.path()).await);
    let text = only(&violations, Rule::OwnEntities)[0].to_string();
    assert!(text.contains("table `billing_invoices`"), "{text}");
    assert!(
        text.contains("module `orders`") && text.contains("peek.rs"),
        "{text}"
    );
}

/// Fixtures on the modules' declared facts (descriptors are compiled in, so these break the
/// facts verification reads from them).
#[tokio::test]
async fn broken_declarations_are_rejected_each_by_its_rule() {
    let graph = CrateGraph::load(&root().join("Cargo.toml")).unwrap();
    let facts = real_facts(&root()).await;
    let with = |change: &dyn Fn(&mut Vec<ModuleFacts>)| {
        let mut facts = facts.clone();
        change(&mut facts);
        verify(&graph, &facts)
    };
    let module = |facts: &mut Vec<ModuleFacts>, name: &str| -> usize {
        facts.iter().position(|m| m.name == name).unwrap()
    };

    let cycle = with(&|f| {
        let i = module(f, "catalog");
        f[i].may_call.push("orders".into());
    });
    let text = only(&cycle, Rule::NoCallCycles)[0].to_string();
    assert!(
        text.contains("catalog -> orders -> catalog")
            || text.contains("orders -> catalog -> orders"),
        "{text}"
    );

    let table = with(&|f| {
        let i = module(f, "orders");
        f[i].tables.push("billing_shadow".into());
    });
    let text = only(&table, Rule::OwnTables)[0].to_string();
    assert!(
        text.contains("table `billing_shadow`") && text.contains("module `orders`"),
        "{text}"
    );

    let unhandled = with(&|f| {
        let i = module(f, "orders");
        f[i].sends.push("billing.refund".into());
    });
    let text = only(&unhandled, Rule::SentRequestsHandled)[0].to_string();
    assert!(
        text.contains("sends `billing.refund`, which no module handles"),
        "{text}"
    );

    let missing = with(&|f| {
        f.push(ModuleFacts {
            name: "ghost".into(),
            ..ModuleFacts::default()
        })
    });
    let text = only(&missing, Rule::Layout)[0].to_string();
    assert!(
        text.contains("module `ghost`") && text.contains("no workspace crate `ghost`"),
        "{text}"
    );
}

#[test]
fn shop_verify_exits_non_zero_with_the_violation() {
    let scratch = scratch_workspace();
    append(
        &scratch.path().join("modules/notifications/Cargo.toml"),
        "[dependencies]\n",
        "orders.workspace = true",
    );
    let out = crate::support::shop_command(scratch.path())
        .arg("verify")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[implementation-dependencies] `notifications`"),
        "{stdout}"
    );
    assert!(stdout.contains("fix:"), "{stdout}");

    let ok = crate::support::shop_command(&root())
        .arg("verify")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
}

#[test]
fn the_graph_shows_calls_solid_and_subscriptions_dashed() {
    let modules = cleave::modules();
    let mermaid = docs::graph(&modules, GraphFormat::Mermaid);
    assert!(mermaid.contains("orders --> catalog"), "{mermaid}");
    assert!(mermaid.contains("orders --> inventory"), "{mermaid}");
    assert!(
        mermaid.contains("orders -. \"orders.order_placed\" .-> billing"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("billing -. \"billing.payment_captured\" .-> orders"),
        "{mermaid}"
    );
    assert!(
        !mermaid.contains("billing --> "),
        "billing calls nobody: {mermaid}"
    );
    let dot = docs::graph(&modules, GraphFormat::Dot);
    assert!(dot.contains("\"orders\" -> \"catalog\";"), "{dot}");
    assert!(
        dot.contains("\"orders\" -> \"billing\" [style=dashed, label=\"orders.order_placed\"];"),
        "{dot}"
    );
}

/// The committed canvases under docs/modules are what the code renders today.
#[tokio::test]
async fn the_committed_module_docs_are_current() {
    let dir = root().join("docs/modules");
    let modules = cleave::modules();
    let mut expected = vec![("README.md".to_string(), docs::index(&shop::APP, &modules))];
    for m in &modules {
        let tables = cleave_app::verify::tables_created_by(m).await.unwrap();
        expected.push((
            format!("{}.md", m.name()),
            docs::canvas(&shop::APP, m, &tables),
        ));
    }
    for (file, text) in expected {
        let committed = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
        assert!(
            committed == text,
            "docs/modules/{file} is stale: run `cargo run -p shop -- modules --write-docs docs/modules`"
        );
    }
}

/// The committed OpenAPI document of the internal endpoints is what the code generates today.
#[test]
fn the_committed_wire_spec_is_current() {
    let path = root().join("docs/wire-protocol.openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == cleave_app::wire_spec_file(&shop::APP),
        "{} is stale: run `cargo run -p shop -- wire-spec --write docs/wire-protocol.openapi.json`",
        path.display()
    );
}

/// The committed OpenAPI document of the public API is what the code generates today, so the
/// published material alone describes it (a module in another language is written from it).
#[test]
fn the_committed_public_openapi_is_current() {
    let path = root().join("docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == cleave_app::public_openapi_file(&shop::APP),
        "{} is stale: run `cargo run -p shop -- openapi --write docs/openapi.json`",
        path.display()
    );
}

/// The committed contracts (`contract.json` next to each api crate) are what the modules
/// publish today.
#[test]
fn the_committed_contracts_are_current() {
    let documents = cleave_app::published_contracts();
    assert_eq!(
        documents.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
        crate::topology::modules(),
        "every linked module's contract is registered"
    );
    for (module, document) in &documents {
        let path = root().join(format!("modules/{module}/api/contract.json"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == cleave_app::contract_file(document),
            "{} is stale: run `cargo run -p shop -- contracts --write`",
            path.display()
        );
    }
    let document = |module: &str| {
        documents
            .iter()
            .find(|(m, _)| *m == module)
            .map(|(_, d)| d.clone())
            .unwrap()
    };
    // Every message of every contract is in its document, with a schema for each part.
    let orders = document("orders");
    assert_eq!(
        orders["subscribes"],
        serde_json::json!(["billing.payment_captured"])
    );
    assert_eq!(orders["version"], "1.1");
    let placed = &orders["events"]["orders.order_placed"];
    assert_eq!(placed["title"], "OrderPlaced");
    let required: Vec<&str> = placed["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["order_id", "customer", "lines", "total_cents"]);
    let inventory = document("inventory");
    for request in ["inventory.reserve_stock", "inventory.release_reservation"] {
        let entry = &inventory["requests"][request];
        assert_eq!(entry["idempotent"], true, "{request}");
        for part in ["request", "response", "error"] {
            assert!(
                entry[part]["title"].is_string(),
                "{request} {part}: {entry}"
            );
        }
    }
}
