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
    for name in ["catalog", "inventory", "orders", "billing", "notifications"] {
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
