//! The library with loans extracted: two in-process servers on loopback, each with its own
//! database, talking over the internal endpoints as two `library serve` processes would
//! (`--modules loans --remote books=…,members=…` and the other way round).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::scenarios;
use crate::support::Library;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loan_moves_one_copy_and_is_counted_once() {
    let library = Library::extracting("loans").await;
    scenarios::a_loan_moves_one_copy_and_is_counted_once(&library.client()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_loans_move_nothing() {
    let library = Library::extracting("loans").await;
    scenarios::refused_loans_move_nothing(&library.client()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_module_in_its_own_process() {
    let library = Library::placed(&[&["books"], &["loans"], &["members"]]).await;
    scenarios::a_loan_moves_one_copy_and_is_counted_once(&library.client()).await;
}

/// Every module in its own process with the events through NATS JetStream (a real
/// `nats-server`): the framework's broker transport knows nothing of the shop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_module_in_its_own_process_with_events_through_nats() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nats) = cleave::testing::NatsServer::start(dir.path()) else {
        return;
    };
    let url = nats.url();
    let library = Library::placed_with(&[&["books"], &["loans"], &["members"]], |config| {
        config.events.broker = Some(url.clone());
    })
    .await;
    scenarios::a_loan_moves_one_copy_and_is_counted_once(&library.client()).await;
}

/// With members and books down, borrowing fails fast with 503 and moves nothing, while
/// returning is accepted: its event waits in the outbox and is applied, once, when they are
/// back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_wait_for_a_module_that_is_down_and_borrows_fail_fast() {
    let mut library = Library::extracting("loans").await;
    let lib = library.client();
    let ada = lib.register("Ada", 3).await;
    lib.add_book("9783096406154", "Dune", 2).await;
    let (status, loan) = lib.borrow(&ada, "9783096406154", None).await;
    assert_eq!(status, 201, "{loan}");
    let id = loan["id"].as_str().unwrap().to_string();
    lib.wait_loan_counts(&ada, (1, 1)).await;

    library.stop("members").await;
    let started = Instant::now();
    let (status, body) = lib.borrow(&ada, "9783096406154", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("members"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (status, returned) = lib
        .post(&format!("/api/loans/{id}/return"), json!({}))
        .await;
    assert_eq!(status, 200, "a return needs nobody else: {returned}");

    library.restart("members").await;
    lib.wait_available("9783096406154", 2).await;
    lib.wait_loan_counts(&ada, (0, 1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lib.available("9783096406154").await, 2, "put back once");
    assert_eq!(lib.loan_counts(&ada).await, (0, 1), "counted once");
}
