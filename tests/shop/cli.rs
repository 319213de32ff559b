//! The `shop` command line: configuration errors, `modules`, `migrate`.

use crate::support::shop_command;

#[test]
fn an_unknown_config_key_stops_the_shop_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shop.toml"),
        "listen = \"127.0.0.1:0\"\nlsiten = 1\n",
    )
    .unwrap();
    let out = shop_command(dir.path()).args(["serve"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lsiten"), "{stderr}");

    std::fs::remove_file(dir.path().join("shop.toml")).unwrap();
    let out = shop_command(dir.path())
        .args(["migrate"])
        .env("SHOP_OUTBOX__RETRIES", "3")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("retries"), "{stderr}");
}

#[test]
fn modules_lists_every_module_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = shop_command(dir.path()).arg("modules").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for name in crate::topology::modules() {
        assert!(
            text.contains(&format!("{name}: ")),
            "{name} missing:\n{text}"
        );
    }
    assert!(text.contains("orders.order_placed"));
    assert!(text.contains("inventory.reserve_stock"));
    assert!(text.contains("POST /api/orders"));
}

#[test]
fn migrate_creates_the_default_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = shop_command(dir.path()).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("shop.db").exists(),
        "default database is shop.db in the working directory"
    );
    // Twice is fine: migrations are tracked per module.
    let again = shop_command(dir.path()).arg("migrate").output().unwrap();
    assert!(again.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_listed_and_resubmitted() {
    use cleave::outbox;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let dir = tempfile::tempdir().unwrap();
    let database = crate::support::sqlite_in(dir.path());
    let process = crate::support::ShopProcess::start(
        dir.path(),
        &database,
        &[("SHOP_OUTBOX__RELAY", "false")],
    );
    let shop = crate::support::TestShop::at(process.base.clone());
    shop.stock_product("CUP", 500, 3).await;
    let id = shop.place_order("eve", &[("CUP", 1)]).await;
    process.kill9();

    // As if every attempt had failed: what an operator finds after a long outage.
    let db = crate::support::open_db(&database).await;
    let tx = db.write().await.unwrap();
    outbox::entry::Entity::update_many()
        .col_expr(outbox::entry::Column::Status, Expr::value(outbox::FAILED))
        .col_expr(outbox::entry::Column::Attempts, Expr::value(10))
        .col_expr(
            outbox::entry::Column::LastError,
            Expr::value("billing was down"),
        )
        .filter(outbox::entry::Column::Status.eq(outbox::PENDING))
        .exec(&tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    db.close().await;

    let listed = shop_command(dir.path())
        .args(["events", "--database", &database])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.starts_with("0 pending, 3 failed"), "{text}");
    assert!(
        text.contains("billing was down") && text.contains("orders.order_placed"),
        "{text}"
    );

    let refused = shop_command(dir.path())
        .args(["events", "--database", &database, "resubmit"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "resubmit needs ids or --all");

    let resubmitted = shop_command(dir.path())
        .args(["events", "--database", &database, "resubmit", "--all"])
        .output()
        .unwrap();
    assert!(resubmitted.status.success());
    assert!(String::from_utf8_lossy(&resubmitted.stdout).contains("resubmitted 3"));

    let process = crate::support::ShopProcess::start(dir.path(), &database, &[]);
    let shop = crate::support::TestShop::at(process.base.clone());
    shop.wait_paid(&id).await;
    assert_eq!(shop.invoices(&id).await.len(), 1);
}

#[tokio::test]
async fn the_serialize_flag_reaches_the_bus() {
    for serialize in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = cleave::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            internal_listen: "127.0.0.1:0".parse().unwrap(),
            database: crate::support::sqlite_in(dir.path()),
            serialize_messages: serialize,
            ..shop::APP.default_config()
        };
        let app = shop::APP.build(&config).await.unwrap();
        assert_eq!(app.runtime().bus().serializes(), serialize);
    }
}

#[test]
fn a_module_without_a_route_to_its_peers_refuses_to_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let database = crate::support::sqlite_in(dir.path());
    let out = shop_command(dir.path())
        .args(["serve", "--modules", "orders", "--listen", "127.0.0.1:0"])
        .args(["--internal-listen", "127.0.0.1:0", "--database", &database])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("module `orders` sends `catalog.get_prices`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("remote.catalog") && stderr.contains("SHOP_REMOTE__CATALOG"),
        "{stderr}"
    );
    assert!(
        stderr.contains("which module `billing` subscribes to"),
        "{stderr}"
    );

    let out = shop_command(dir.path())
        .args(["serve", "--modules", "billing", "--listen", "127.0.0.1:0"])
        .args(["--internal-listen", "127.0.0.1:0", "--database", &database])
        .args([
            "--remote",
            "orders=http://127.0.0.1:1,notifications=http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("internal_token"),
        "remote routes need the token: {stderr}"
    );
}

/// `--no-default-features --features billing` links billing's implementation and no other
/// module's: checked on the dependency graph cargo resolves for that build.
#[test]
fn a_single_module_build_links_only_that_module() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--manifest-path",
            manifest,
            "-p",
            "shop",
        ])
        .args(["--no-default-features", "--features", "billing"])
        .args(["-e", "normal", "--prefix", "none", "-f", "{p}"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let implementations: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| {
            let path = line
                .split_once('(')?
                .1
                .trim_end_matches(" (*)")
                .trim_end_matches(')');
            let module = path.rsplit_once("/modules/")?.1;
            (!module.contains('/')).then_some(module)
        })
        .collect();
    assert_eq!(
        implementations.into_iter().collect::<Vec<_>>(),
        ["billing"],
        "implementation crates linked:\n{tree}"
    );
    assert!(
        tree.contains("orders-api"),
        "contracts stay linked:\n{tree}"
    );
}
