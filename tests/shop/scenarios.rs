//! Business scenarios that must give the same results however the modules are placed.
//!
//! Each scenario is a function of a running shop; `scenario_tests!` runs every one of them
//! in-process and in serializing mode (and the extraction suites run them again with modules
//! in other processes).

use std::time::Duration;

use serde_json::json;

use crate::support::{Mode, TestShop, spawn_app};
use crate::topology::Topology;

/// A placed order is invoiced, paid once, and the customer is told twice.
pub(crate) async fn order_reaches_paid(shop: &TestShop) {
    shop.stock_product("BOOK", 3999, 10).await;
    shop.stock_product("PEN", 250, 10).await;
    let id = shop.place_order("ada", &[("BOOK", 2), ("PEN", 4)]).await;
    let (_, order) = shop.get(&format!("/api/orders/{id}")).await;
    assert_eq!(order["total_cents"], 2 * 3999 + 4 * 250);
    shop.wait_paid(&id).await;

    let invoices = shop.invoices(&id).await;
    assert_eq!(invoices.len(), 1, "exactly one invoice");
    assert_eq!(invoices[0]["amount_cents"], 8998);
    assert_eq!(invoices[0]["payments"].as_array().unwrap().len(), 1);

    // The customer is told of both events. Not necessarily in that order: the two events have
    // different publishers, and when those run in different processes nothing orders their
    // deliveries (ADR 4); each message is recorded exactly once either way.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let told = shop.notifications("ada").await;
        if told.len() >= 2 {
            let mut kinds: Vec<_> = told.iter().map(|n| n["kind"].as_str().unwrap()).collect();
            kinds.sort_unstable();
            assert_eq!(kinds, ["billing.payment_captured", "orders.order_placed"]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "notifications missing: {told:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Paid: the reserved units are sold.
    shop.wait_stock("BOOK", 8, 0).await;
    shop.wait_stock("PEN", 6, 0).await;
}

/// An unknown SKU is a 404 and reserves nothing.
pub(crate) async fn unknown_sku_is_refused(shop: &TestShop) {
    shop.stock_product("MUG", 900, 5).await;
    let (status, body) = shop.try_order("bob", &[("MUG", 1), ("GHOST", 1)]).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "unknown_sku");
    assert!(body["message"].as_str().unwrap().contains("GHOST"));
    let (_, stock) = shop.get("/api/inventory/stock/MUG").await;
    assert_eq!(stock["reserved"], 0);
}

/// Not enough stock on one line is a 409 and reserves nothing on any line.
pub(crate) async fn short_stock_reserves_nothing(shop: &TestShop) {
    shop.stock_product("LAMP", 4500, 5).await;
    shop.stock_product("BULB", 300, 1).await;
    let (status, body) = shop.try_order("cy", &[("LAMP", 2), ("BULB", 2)]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "insufficient_stock");
    for sku in ["LAMP", "BULB"] {
        let (_, stock) = shop.get(&format!("/api/inventory/stock/{sku}")).await;
        assert_eq!(stock["reserved"], 0, "{sku}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        shop.notifications("cy").await.is_empty(),
        "no order, no message"
    );
}

/// Concurrent orders for the last units never oversell.
pub(crate) async fn concurrent_orders_never_oversell(shop: &TestShop) {
    shop.stock_product("RARE", 10_000, 3).await;
    let attempts = (0..8).map(|i| {
        let customer = format!("buyer{i}");
        async move { shop.try_order(&customer, &[("RARE", 1)]).await }
    });
    let results = futures::future::join_all(attempts).await;
    let accepted = results.iter().filter(|(s, _)| *s == 201).count();
    let refused = results.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((accepted, refused), (3, 5), "{results:?}");
    let (_, stock) = shop.get("/api/inventory/stock/RARE").await;
    assert_eq!(stock["available"], 0, "{stock}");
    for (_, body) in results.iter().filter(|(s, _)| *s == 201) {
        shop.wait_paid(body["id"].as_str().unwrap()).await;
    }
    shop.wait_stock("RARE", 0, 0).await;
}

macro_rules! scenario_tests {
    ($mode:ident, $mode_value:expr) => {
        mod $mode {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn order_reaches_paid() {
                super::order_reaches_paid(&spawn_app($mode_value).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn unknown_sku_is_refused() {
                super::unknown_sku_is_refused(&spawn_app($mode_value).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn short_stock_reserves_nothing() {
                super::short_stock_reserves_nothing(&spawn_app($mode_value).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_orders_never_oversell() {
                super::concurrent_orders_never_oversell(&spawn_app($mode_value).await).await;
            }
        }
    };
}

scenario_tests!(in_process, Mode::InProcess);
scenario_tests!(serialized, Mode::Serialized);

/// The same scenarios with one module in a second process, reached over loopback HTTP.
macro_rules! extracted_scenario_tests {
    ($($module:ident),*) => {
        $(
            mod $module {
                use super::*;

                async fn shop() -> (Topology, TestShop) {
                    let topology =
                        Topology::extracting(stringify!($module), Mode::InProcess).await;
                    let shop = topology.shop();
                    (topology, shop)
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn order_reaches_paid() {
                    let (_topology, shop) = shop().await;
                    super::super::order_reaches_paid(&shop).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn unknown_sku_is_refused() {
                    let (_topology, shop) = shop().await;
                    super::super::unknown_sku_is_refused(&shop).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn short_stock_reserves_nothing() {
                    let (_topology, shop) = shop().await;
                    super::super::short_stock_reserves_nothing(&shop).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn concurrent_orders_never_oversell() {
                    let (_topology, shop) = shop().await;
                    super::super::concurrent_orders_never_oversell(&shop).await;
                }
            }
        )*
    };
}

mod extracted {
    use super::*;

    extracted_scenario_tests!(billing, catalog, inventory, notifications, orders);

    /// Every module in a process of its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_module_alone() {
        let groups: Vec<[&str; 1]> = crate::topology::modules().iter().map(|m| [*m]).collect();
        let groups: Vec<&[&str]> = groups.iter().map(|g| &g[..]).collect();
        let topology = Topology::start(&groups, Mode::InProcess).await;
        let shop = topology.shop();
        super::order_reaches_paid(&shop).await;
        super::short_stock_reserves_nothing(&shop).await;
        super::concurrent_orders_never_oversell(&shop).await;
    }
}

#[tokio::test]
async fn health_answers() {
    let shop = spawn_app(Mode::InProcess).await;
    let (status, body) = shop.get("/health").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
}
