//! The shop in real containers (testcontainers): the monolith, billing extracted, and every
//! module alone give the same business results through the public API, and survive billing
//! being killed or paused mid-run as each placement should.
//!
//! Needs Docker and the static release binary (`scripts/test.sh` builds it; the image is built
//! from it through the engine's API). Without Docker these tests skip with a printed reason,
//! unless `CI` is set: then they fail.

use std::sync::Arc;
use std::time::Duration;

use cleave_compare::docker;
use cleave_compare::image::{self, ImageSettings};
use cleave_compare::topology::{Options, Topology};
use cleave_compare::workload::{self, Client, Fault, FaultPlan, FaultRun, Workload};

use crate::scenarios;
use crate::support::TestShop;

/// Starts the shop's placement `name` from the shop image, or `None` when the test skips for
/// want of Docker.
async fn start(name: &str, test: &str) -> Option<Topology> {
    let engine = docker::engine_for_test(test).await?;
    let app = shop_compare::application().expect("the shop's placements");
    let layout = app.layout(name).expect("a placement of the shop");
    let settings = ImageSettings::from_env(app.name).expect("image settings");
    let image = image::ensure(&engine, &settings)
        .await
        .unwrap_or_else(|e| panic!("the shop image: {e:#}"));
    let topology = Topology::start(&layout, &image, &Options::default())
        .await
        .unwrap_or_else(|e| panic!("start {name}: {e:#}"));
    Some(topology)
}

fn orders() -> Arc<dyn Workload> {
    Arc::new(shop_compare::Orders)
}

/// The scenario suite, through the public API routed to the containers.
async fn same_business_results(topology: &Topology) {
    let routes = topology.routes();
    let base = topology.node_of("orders").public_url.clone();
    let shop = TestShop::routed(base, routes);
    scenarios::order_reaches_paid(&shop).await;
    scenarios::unknown_sku_is_refused(&shop).await;
    scenarios::short_stock_reserves_nothing(&shop).await;
    scenarios::concurrent_orders_never_oversell(&shop).await;

    // The receipt asks billing over the bus, wherever billing runs.
    let id = shop.place_order("rita", &[("BOOK", 1)]).await;
    shop.wait_paid(&id).await;
    let (status, receipt) = shop.get(&format!("/api/orders/{id}/receipt")).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["invoice"]["amount_cents"], 3999);
    assert_eq!(receipt["invoice"]["paid_cents"], 3999);
}

/// Every container is ready, and each says where every module runs.
async fn placement_is_reported(topology: &Topology) {
    for node in &topology.nodes {
        let (status, ready) = get(&format!("{}/ready", node.public_url)).await;
        assert_eq!(status, 200, "{}: {ready}", node.name);
        let structure = topology
            .internal_get(&node.name, "/_cleave/modules")
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        for module in structure["modules"].as_array().expect("modules") {
            let name = module["name"].as_str().unwrap();
            let expected = if node.modules.iter().any(|m| m == name) {
                "local"
            } else {
                "remote"
            };
            assert_eq!(module["location"], expected, "{}: {module}", node.name);
        }
    }
}

async fn get(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// Billing killed or paused mid-run in a topology where it has its own container: orders are
/// still accepted, the receipt (which needs billing) fails fast with 503, and once billing is
/// back every accepted order is paid with exactly one invoice.
fn assert_billing_fault_contained(run: &FaultRun, options: &Options) {
    assert!(run.accepted_during > 0, "{run:#?}");
    assert_eq!(
        run.refused_during, 0,
        "orders need only other modules: {run:#?}"
    );
    assert_eq!(run.refused_outside, 0, "{run:#?}");
    // Bounded by the call timeout and its retries (idempotent request: 1 + 2 attempts).
    let bound = 3.0 * options.call_timeout_ms as f64 + 1_500.0;
    for (status, ms) in &run.receipts_during {
        assert_eq!(*status, 503, "the receipt needs billing: {run:#?}");
        assert!(*ms < bound, "{ms} ms is not failing fast: {run:#?}");
    }
    assert_eq!(run.receipt_after, 200, "{run:#?}");
    assert_eq!(
        run.invoiced_once, run.accepted,
        "one invoice per order: {run:#?}"
    );
}

async fn faults_contained(topology: &mut Topology) {
    let client = Client::new(topology, Duration::from_secs(10));
    let options = Options::default();
    for fault in [Fault::Kill, Fault::Pause] {
        let run = workload::fault_run(topology, &orders(), &client, fault, FaultPlan::default())
            .await
            .unwrap_or_else(|e| panic!("{} run: {e:#}", fault.name()));
        assert_billing_fault_contained(&run, &options);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monolith_in_a_container_gives_the_business_results_and_loses_nothing_when_killed() {
    let Some(mut topology) = start("monolith", "containers::monolith").await else {
        return;
    };
    same_business_results(&topology).await;
    placement_is_reported(&topology).await;
    // Billing's crash is the shop's crash here: orders are refused until it is back, and no
    // accepted order loses its payment.
    let client = Client::new(&topology, Duration::from_secs(10));
    let run = workload::fault_run(
        &mut topology,
        &orders(),
        &client,
        Fault::Kill,
        FaultPlan::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("kill run: {e:#}"));
    // (An order sent in the instant between the fault being declared and the kill landing may
    // still be accepted: the count is compared, not required to be zero.)
    assert!(run.refused_during > run.accepted_during, "{run:#?}");
    assert_eq!(run.invoiced_once, run.accepted, "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_extracted_gives_the_same_results_and_contains_billing_faults() {
    let Some(mut topology) = start("billing-extracted", "containers::billing_extracted").await
    else {
        return;
    };
    same_business_results(&topology).await;
    placement_is_reported(&topology).await;
    faults_contained(&mut topology).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_module_alone_gives_the_same_results_and_contains_billing_faults() {
    let Some(mut topology) = start("all-separate", "containers::all_separate").await else {
        return;
    };
    same_business_results(&topology).await;
    placement_is_reported(&topology).await;
    faults_contained(&mut topology).await;
}
