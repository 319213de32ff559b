//! Business scenarios that must give the same results however the modules are placed: each
//! is a function of a client of the public API, run by `monolith` and `extracted`.

use std::time::Duration;

use serde_json::json;

use crate::support::Client;

/// The Rust Programming Language, as people write it.
const RUST_BOOK: &str = "978-1-59327-828-1";
/// The same, as books stores it.
const RUST_BOOK_ISBN: &str = "9781593278281";
/// Another title.
const PROGRAMMING_RUST: &str = "9781492073680";
/// A third title.
const DUNE: &str = "9783096406154";

/// A loan takes one copy off the shelf at once and is counted on the member once the event
/// arrives; a retried borrow is the same loan; the member's limit holds; a return (twice)
/// puts the copy back and lowers the count once.
pub(crate) async fn a_loan_moves_one_copy_and_is_counted_once(lib: &Client) {
    let ada = lib.register("Ada", 2).await;
    lib.add_book(RUST_BOOK, "The Rust Programming Language", 2)
        .await;
    lib.add_book(PROGRAMMING_RUST, "Programming Rust", 1).await;

    let (status, loan) = lib.borrow(&ada, RUST_BOOK, None).await;
    assert_eq!(status, 201, "{loan}");
    assert_eq!(loan["status"], "borrowed");
    assert_eq!(loan["isbn"], RUST_BOOK_ISBN);
    assert_eq!(loan["title"], "The Rust Programming Language");
    let first = loan["id"].as_str().unwrap().to_string();
    // Taking the copy is a request: done when the loan is answered.
    assert_eq!(lib.available(RUST_BOOK_ISBN).await, 1);
    // Counting it is an event: done shortly after.
    lib.wait_loan_counts(&ada, (1, 1)).await;

    // A borrow retried with the same loan id is the same loan, one copy.
    let retried = uuid::Uuid::now_v7().to_string();
    let (status, loan) = lib.borrow(&ada, RUST_BOOK_ISBN, Some(&retried)).await;
    assert_eq!(status, 201, "{loan}");
    let (status, again) = lib.borrow(&ada, RUST_BOOK_ISBN, Some(&retried)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], loan["id"]);
    assert_eq!(lib.available(RUST_BOOK_ISBN).await, 0);

    // Ada holds two books, her limit: the third is refused and no copy moves.
    let (status, refused) = lib.borrow(&ada, PROGRAMMING_RUST, None).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "loan_limit_reached");
    assert_eq!(lib.available(PROGRAMMING_RUST).await, 1);
    lib.wait_loan_counts(&ada, (2, 2)).await;

    // Returned twice: the copy comes back once and the count drops once.
    for _ in 0..2 {
        let (status, returned) = lib
            .post(&format!("/api/loans/{first}/return"), json!({}))
            .await;
        assert_eq!(status, 200, "{returned}");
        assert_eq!(returned["status"], "returned");
    }
    lib.wait_available(RUST_BOOK_ISBN, 1).await;
    lib.wait_loan_counts(&ada, (1, 2)).await;

    // Exactly once: nothing more arrives later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lib.available(RUST_BOOK_ISBN).await, 1);
    assert_eq!(lib.loan_counts(&ada).await, (1, 2));
    let (status, listed) = lib.get(&format!("/api/loans?member_id={ada}")).await;
    assert_eq!(status, 200, "{listed}");
    let statuses: Vec<&str> = listed["loans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["returned", "borrowed"]);

    // With a book back, Ada may borrow again.
    let (status, loan) = lib.borrow(&ada, PROGRAMMING_RUST, None).await;
    assert_eq!(status, 201, "{loan}");
    lib.wait_loan_counts(&ada, (2, 3)).await;
}

/// Refused loans say why, across modules, and move nothing.
pub(crate) async fn refused_loans_move_nothing(lib: &Client) {
    let bob = lib.register("Bob", 1).await;
    let eve = lib.register("Eve", 3).await;
    let cy = lib.register("Cy", 3).await;
    let (status, suspended) = lib
        .post(&format!("/api/members/{eve}/suspend"), json!({}))
        .await;
    assert_eq!(status, 200, "{suspended}");
    lib.add_book(DUNE, "Dune", 1).await;
    let (status, loan) = lib.borrow(&bob, DUNE, None).await;
    assert_eq!(status, 201, "{loan}");

    let stranger = uuid::Uuid::now_v7().to_string();
    for (member, isbn, status, code) in [
        (&eve, DUNE, 409, "member_suspended"),
        (&stranger, DUNE, 404, "member_not_found"),
        (&cy, DUNE, 409, "no_copy_available"),
        (&cy, "978-1-59327-828-2", 422, "invalid_isbn"),
        (&cy, RUST_BOOK, 404, "book_not_found"),
        (&bob, RUST_BOOK, 409, "loan_limit_reached"),
    ] {
        let (got, body) = lib.borrow(member, isbn, None).await;
        assert_eq!(got, status, "{member} {isbn}: {body}");
        assert_eq!(body["error"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    lib.wait_loan_counts(&bob, (1, 1)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(lib.available(DUNE).await, 0);
    for member in [&eve, &cy] {
        assert_eq!(lib.loan_counts(member).await, (0, 0), "{member}");
        let (_, listed) = lib.get(&format!("/api/loans?member_id={member}")).await;
        assert_eq!(listed["loans"], json!([]), "{member}");
    }
}
