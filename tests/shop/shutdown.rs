//! SIGTERM: the shop stops accepting, finishes what it accepted, exits in time, and no
//! accepted order loses its events.

use std::time::{Duration, Instant};

use crate::support::{ShopProcess, TestShop, sqlite_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_accepted_order() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_in(dir.path());
    let process = ShopProcess::start(
        dir.path(),
        &database,
        &[
            ("SHOP_SHUTDOWN_TIMEOUT_S", "5"),
            ("SHOP_LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ],
    );
    let shop = TestShop::at(process.base.clone());
    shop.stock_product("TEA", 300, 1_000).await;

    // Orders keep arriving while the signal lands.
    let placing = tokio::spawn({
        let base = process.base.clone();
        async move {
            let shop = TestShop::at(base);
            let mut accepted = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut i = 0;
            while Instant::now() < deadline {
                i += 1;
                let body = serde_json::json!({"customer": format!("t{i}"), "lines": [{"sku": "TEA", "quantity": 1}]});
                match shop
                    .client
                    .post(shop.url("/api/orders"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let v: serde_json::Value = r.json().await.unwrap();
                        accepted.push(v["id"].as_str().unwrap().to_string());
                    }
                    Ok(r) => panic!("unexpected answer while stopping: {}", r.status()),
                    // Refused once the listener is closed: the order was not accepted.
                    Err(_) => break,
                }
            }
            accepted
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    let status = process.terminate();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "stopped within the bound"
    );
    let accepted = placing.await.unwrap();
    assert!(
        !accepted.is_empty(),
        "some orders were accepted before the signal"
    );

    let log = std::fs::read_to_string(dir.path().join("shop.log")).unwrap();
    let json_lines = log.lines().filter(|l| l.starts_with('{')).count();
    assert!(
        json_lines > 0
            && log
                .lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "JSON logs: {log}"
    );

    let process = ShopProcess::start(dir.path(), &database, &[]);
    let shop = TestShop::at(process.base.clone());
    for id in &accepted {
        shop.wait_paid(id).await;
        assert_eq!(shop.invoices(id).await.len(), 1, "order {id}");
    }
}
