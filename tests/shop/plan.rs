//! `shop plan`: the cost of a placement predicted from a running monolith's traffic, end to
//! end: real requests, the real `/metrics`, the real command.

use serde_json::Value;

use crate::support::{Mode, client, shop_command, spawn_app};

/// Runs `shop plan` for `placement` over `traffic` (a URL or a file) and returns its JSON.
fn plan(placement: &str, traffic: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = shop_command(dir.path())
        .args([
            "plan",
            "--placement",
            placement,
            "--traffic",
            traffic,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan --json prints JSON")
}

fn route<'a>(plan: &'a Value, method: &str, pattern: &str) -> &'a Value {
    plan["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["method"] == method && r["route"] == pattern)
        .unwrap_or_else(|| panic!("no {method} {pattern} in {plan}"))
}

fn messages(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|h| format!("{}→{} {}", h["from"], h["to"], h["message"]).replace('"', ""))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_predicts_hops_crossings_and_failures_from_the_monoliths_traffic() {
    let shop = spawn_app(Mode::InProcess).await;
    shop.stock_product("PEN", 250, 50).await;
    let mut orders = Vec::new();
    for customer in ["ada", "bob", "cy"] {
        orders.push(shop.place_order(customer, &[("PEN", 2)]).await);
    }
    for order in &orders {
        shop.wait_paid(order).await;
    }
    let (status, _) = shop
        .get(&format!("/api/orders/{}/receipt", orders[0]))
        .await;
    assert_eq!(status, 200);
    let page = client()
        .get(format!("{}/metrics", shop.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("metrics.txt");
    std::fs::write(&snapshot, &page).unwrap();
    let snapshot = snapshot.to_str().unwrap().to_string();

    // As one process, nothing crosses.
    let monolith = plan("monolith", &snapshot);
    for r in monolith["routes"].as_array().unwrap() {
        assert_eq!(r["extra_cpu_us"], 0.0, "{r}");
        assert!(r["hops"].as_array().unwrap().is_empty(), "{r}");
    }

    // Billing out: placing an order stays synchronous-local, but its event goes to billing
    // and billing's answer comes back to orders and notifications; the receipt needs billing.
    let split = plan("billing-extracted", &snapshot);
    let placing = route(&split, "POST", "/api/orders");
    assert_eq!(placing["requests"], 3.0);
    assert!(placing["hops"].as_array().unwrap().is_empty(), "{placing}");
    assert_eq!(placing["extra_p50_us"], 0.0);
    assert_eq!(
        messages(&placing["crossings"]),
        [
            "billing→notifications billing.payment_captured",
            "billing→orders billing.payment_captured",
            "orders→billing orders.order_placed",
        ]
    );
    assert!(placing["extra_cpu_us"].as_f64().unwrap() > 0.0);
    // SQLite: the relay serves a node's own subscribers in one pass. `order_placed` still has
    // inventory and notifications beside orders, so its crossing is a pass added; of
    // `payment_captured`'s two, one takes the place of billing's local pass.
    let beside: Vec<(String, bool)> = placing["crossings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!("{}→{}", c["from"], c["to"]).replace('"', ""),
                c["beside_local"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        beside.contains(&("orders→billing".into(), true)),
        "{beside:?}"
    );
    assert_eq!(
        beside
            .iter()
            .filter(|(edge, b)| edge.starts_with("billing→") && *b)
            .count(),
        1,
        "{beside:?}"
    );
    let receipt = route(&split, "GET", "/api/orders/{id}/receipt");
    assert_eq!(
        messages(&receipt["hops"]),
        ["orders→billing billing.get_invoice"]
    );
    assert_eq!(receipt["hops"][0]["idempotent"], true);
    assert!(
        receipt["hops"][0]["bytes"].as_f64().unwrap() > 50.0,
        "{receipt}"
    );
    assert!(receipt["extra_p50_us"].as_f64().unwrap() > 0.0);
    assert!(
        receipt["failure_modes"][0]
            .as_str()
            .unwrap()
            .contains("needs `billing`"),
        "{receipt}"
    );
    assert_eq!(split["nodes"].as_array().unwrap().len(), 2);

    // Every module alone: placing an order now takes two synchronous hops.
    let apart = plan("all-separate", &format!("{}/metrics", shop.base));
    let placing = route(&apart, "POST", "/api/orders");
    assert_eq!(
        messages(&placing["hops"]),
        [
            "orders→catalog catalog.get_prices",
            "orders→inventory inventory.reserve_stock",
        ]
    );
    assert!(placing["extra_p50_us"].as_f64().unwrap() > 0.0);

    // The table for people says the same.
    let out = shop_command(dir.path())
        .args([
            "plan",
            "--placement",
            "all-separate",
            "--traffic",
            &snapshot,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("POST    /api/orders"), "{text}");
    assert!(
        text.contains("hop     orders → catalog `catalog.get_prices`"),
        "{text}"
    );

    // A placement that does not exist is named.
    let out = shop_command(dir.path())
        .args(["plan", "--placement", "nope", "--traffic", &snapshot])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no placement `nope`"));
}
