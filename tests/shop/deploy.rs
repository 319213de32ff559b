//! `shop deploy`: the Kubernetes manifests of every placement validate against the API's
//! schemas (offline), and the Compose file of `billing-extracted` with PostgreSQL and NATS comes
//! up in Docker with locally built images and pays an order, its events through NATS.
//!
//! The validator is the pinned PyPI package `kubernetes-validate` in a virtualenv under the
//! target directory (`scripts/k8s-validate.sh`); the PostgreSQL and NATS images are built
//! offline by `scripts/images.sh`, the shop's from the static binary. Without python, Docker or
//! docker-compose these tests skip with a printed reason, unless `CI` is set: then they fail.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use cleave_compare::deploy::{self, ComposeUp};
use cleave_compare::docker;
use cleave_compare::image::{self, ImageSettings};

use crate::broker::{published_to_broker, taken_from_broker};
use crate::scenarios;
use crate::support::TestShop;

#[test]
fn deploy_manifests_of_every_placement_validate_against_the_kubernetes_schemas() {
    let binary = Path::new(env!("CARGO_BIN_EXE_shop"));
    let test = "deploy_manifests_of_every_placement_validate_against_the_kubernetes_schemas";
    if let Some(files) = deploy::every_placement_deploys(binary, test) {
        println!("{files} manifest files of 3 placements × 3 variants validate");
    }
}

/// Two consecutive free ports on loopback, for the nodes' published public APIs.
fn free_ports(n: u16) -> u16 {
    for _ in 0..100 {
        let base = fastrand::u16(20_000..50_000);
        let listeners: Vec<_> = (0..n)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if listeners.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

async fn wait_ready(url: &str, up: &ComposeUp) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match client.get(format!("{url}/ready")).send().await {
            Ok(r) if r.status().is_success() => return,
            _ if Instant::now() > deadline => {
                panic!(
                    "{url}/ready did not answer 200 within 120 s\n{}\n{}",
                    up.ps(),
                    up.logs()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_compose_of_billing_extracted_on_postgres_pays_an_order() {
    let test = "deploy_compose_of_billing_extracted_on_postgres_pays_an_order";
    let Some(engine) = docker::engine_for_test(test).await else {
        return;
    };
    if deploy::compose_available(test).is_none() {
        return;
    }
    let started = Instant::now();
    let settings = ImageSettings::from_env(cleave::AppName::new("shop")).expect("image settings");
    let shop_image = image::ensure(&engine, &settings)
        .await
        .unwrap_or_else(|e| panic!("the shop image: {e:#}"));
    let (postgres, nats) = tokio::task::spawn_blocking(deploy::service_images)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the PostgreSQL and NATS images: {e:#}"));
    println!("images ready in {:.1?}", started.elapsed());

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("billing-extracted");
    // Nodes in name order: billing on `base`, main on `base + 1`.
    let base = free_ports(2);
    deploy::deploy(
        Path::new(env!("CARGO_BIN_EXE_shop")),
        "billing-extracted",
        &out,
        &[
            "--image",
            &shop_image.reference(),
            "--with-postgres",
            "--postgres-image",
            &postgres,
            "--with-nats",
            "--nats-image",
            &nats,
            "--public-port",
            &base.to_string(),
        ],
    )
    .expect("deploy");
    let project = format!("cleave-deploy-{}", std::process::id());
    let up = tokio::task::spawn_blocking({
        let out = out.clone();
        move || ComposeUp::start(&out, &project)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e:#}"));
    let billing = format!("http://127.0.0.1:{base}");
    let main = format!("http://127.0.0.1:{}", base + 1);
    wait_ready(&billing, &up).await;
    wait_ready(&main, &up).await;
    println!("compose up and ready in {:.1?}", started.elapsed());

    // The README's walk-through: a product, its stock, an order, paid by billing's process.
    let shop = TestShop::routed(main.clone(), vec![("/api/billing".into(), billing.clone())]);
    scenarios::order_reaches_paid(&shop).await;
    // The receipt asks billing over the bus, in the other container.
    let id = shop.place_order("rita", &[("BOOK", 1)]).await;
    shop.wait_paid(&id).await;
    let (status, receipt) = shop.get(&format!("/api/orders/{id}/receipt")).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["invoice"]["paid_cents"], 3999);
    // The events between the two containers went through the NATS container.
    let published = published_to_broker(&main).await;
    let taken = taken_from_broker(&billing, "billing").await;
    assert!(
        published >= 2.0 && taken >= 2.0,
        "events through NATS: {published} published by main, {taken} taken by billing\n{}",
        up.ps()
    );
    drop(up);
    println!("compose test done in {:.1?}", started.elapsed());
}
