//! Loans on its own: members and books are stubs on the bus, and recorders stand in for the
//! subscribers of its events. The loans routes, table and outbox are real.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, test};
use books_api::{BooksError, CopyReleased, CopyTaken, ReleaseCopy, TakeCopy};
use cleave::testing::{Harness, Recorder, TestApp, eventually};
use loans_api::{BookBorrowed, BookReturned};
use members_api::{Borrower, CheckBorrower, MembersError};
use serde_json::{Value, json};
use uuid::Uuid;

/// A member who may hold two books.
const ADA: Uuid = Uuid::from_u128(0x0190a5c2_0000_7000_8000_00000000000a);
/// Another member, who may hold two books too.
const GRACE: Uuid = Uuid::from_u128(0x0190a5c2_0000_7000_8000_00000000000b);
/// A suspended member.
const MALLORY: Uuid = Uuid::from_u128(0x0190a5c2_0000_7000_8000_00000000000c);

/// On the shelf, whatever is asked.
const RUST_BOOK: &str = "9781593278281";
/// Known, every copy lent out.
const LENT_OUT: &str = "9781492073680";

/// Members stub.
async fn check(request: CheckBorrower) -> Result<Borrower, MembersError> {
    let member_id = request.member_id;
    match member_id {
        ADA | GRACE => Ok(Borrower {
            member_id,
            name: "A reader".into(),
            loan_limit: 2,
        }),
        MALLORY => Err(MembersError::Suspended { member_id }),
        _ => Err(MembersError::UnknownMember { member_id }),
    }
}

/// Books stub: hyphens are dropped; `RUST_BOOK` is always there, `LENT_OUT` never, a bad
/// check digit is invalid, anything else unknown.
async fn take(request: TakeCopy) -> Result<CopyTaken, BooksError> {
    let isbn = request.isbn.replace('-', "");
    match isbn.as_str() {
        RUST_BOOK => Ok(CopyTaken {
            loan_id: request.loan_id,
            isbn,
            title: "The Rust Programming Language".into(),
        }),
        LENT_OUT => Err(BooksError::NoCopyAvailable { isbn }),
        "9781593278282" => Err(BooksError::InvalidIsbn {
            isbn: request.isbn,
            reason: "its check digit is wrong".into(),
        }),
        _ => Err(BooksError::UnknownBook { isbn }),
    }
}

struct Desk {
    app: TestApp,
    borrowed: Recorder<BookBorrowed>,
    returned: Recorder<BookReturned>,
    /// Loan ids books was asked to take a copy for.
    takes: Arc<Mutex<Vec<Uuid>>>,
    /// Loan ids books was asked to release.
    releases: Arc<Mutex<Vec<Uuid>>>,
}

async fn desk(harness: Harness) -> Desk {
    let takes = Arc::new(Mutex::new(Vec::new()));
    let releases = Arc::new(Mutex::new(Vec::new()));
    let (taken, released) = (takes.clone(), releases.clone());
    let (harness, borrowed) = harness
        .module(&loans::MODULE)
        .stub::<CheckBorrower, _, _>(check)
        .stub::<TakeCopy, _, _>(move |request: TakeCopy| {
            taken.lock().unwrap().push(request.loan_id);
            take(request)
        })
        .stub::<ReleaseCopy, _, _>(move |request: ReleaseCopy| {
            released.lock().unwrap().push(request.loan_id);
            async { Ok(CopyReleased { released: true }) }
        })
        .record::<BookBorrowed>("members");
    let (harness, returned) = harness.record::<BookReturned>("books");
    Desk {
        app: harness.start().await,
        borrowed,
        returned,
        takes,
        releases,
    }
}

fn borrow(member: Uuid, isbn: &str) -> Value {
    json!({"member_id": member, "isbn": isbn})
}

#[actix_web::test]
async fn a_book_is_borrowed_published_returned_and_published_once() {
    for serialize in [false, true] {
        let desk = desk(Harness::new().serialize_messages(serialize)).await;
        let service =
            test::init_service(App::new().configure(|c| desk.app.runtime.configure_http(c))).await;
        let today = chrono::Utc::now().date_naive();
        let created = test::TestRequest::post()
            .uri("/api/loans")
            .set_json(borrow(ADA, "978-1-59327-828-1"))
            .send_request(&service)
            .await;
        assert_eq!(created.status(), 201);
        let loan: Value = test::read_body_json(created).await;
        assert_eq!(loan["status"], "borrowed");
        assert_eq!(loan["isbn"], RUST_BOOK, "as books normalized it");
        assert_eq!(loan["title"], "The Rust Programming Language");
        assert_eq!(loan["member_id"], ADA.to_string());
        assert_eq!(loan["returned_at"], Value::Null);
        let due = (today + chrono::Days::new(21)).to_string();
        assert_eq!(loan["due_on"], due, "21 days by default");
        let id: Uuid = loan["id"].as_str().unwrap().parse().unwrap();

        eventually(
            "members hears of the loan",
            Duration::from_secs(5),
            || async { !desk.borrowed.events().is_empty() },
        )
        .await;
        let event = &desk.borrowed.events()[0];
        assert_eq!(
            (
                event.loan_id,
                event.member_id,
                event.isbn.as_str(),
                event.due_on.as_str()
            ),
            (id, ADA, RUST_BOOK, due.as_str())
        );

        let read = test::TestRequest::get()
            .uri(&format!("/api/loans/{id}"))
            .send_request(&service)
            .await;
        assert_eq!(read.status(), 200);
        let listed = test::TestRequest::get()
            .uri(&format!("/api/loans?member_id={ADA}"))
            .send_request(&service)
            .await;
        let listed: Value = test::read_body_json(listed).await;
        assert_eq!(listed["loans"].as_array().unwrap().len(), 1, "{listed}");

        // Returned twice: one event, and the second answer is the same loan.
        for _ in 0..2 {
            let r = test::TestRequest::post()
                .uri(&format!("/api/loans/{id}/return"))
                .send_request(&service)
                .await;
            assert_eq!(r.status(), 200);
            let body: Value = test::read_body_json(r).await;
            assert_eq!(body["status"], "returned");
            assert!(body["returned_at"].is_string(), "{body}");
        }
        eventually(
            "books hears of the return",
            Duration::from_secs(5),
            || async { !desk.returned.events().is_empty() },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let returns = desk.returned.events();
        assert_eq!(
            returns.len(),
            1,
            "one event for two returns, serialize={serialize}"
        );
        assert_eq!((returns[0].loan_id, returns[0].member_id), (id, ADA));
        assert_eq!(desk.borrowed.events().len(), 1);
        assert!(
            desk.releases.lock().unwrap().is_empty(),
            "nothing to put back"
        );
    }
}

#[actix_web::test]
async fn a_retried_borrow_answers_the_first_loan_and_limits_hold() {
    let desk = desk(Harness::new()).await;
    let service =
        test::init_service(App::new().configure(|c| desk.app.runtime.configure_http(c))).await;
    let loan_id = Uuid::now_v7();
    let mut body = borrow(ADA, RUST_BOOK);
    body["loan_id"] = json!(loan_id);
    for expected in [201, 200] {
        let r = test::TestRequest::post()
            .uri("/api/loans")
            .set_json(&body)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), expected);
        let loan: Value = test::read_body_json(r).await;
        assert_eq!(loan["id"], loan_id.to_string());
    }
    assert_eq!(*desk.takes.lock().unwrap(), [loan_id], "one copy taken");

    // The same loan id from another member is not theirs.
    let mut stolen = borrow(GRACE, RUST_BOOK);
    stolen["loan_id"] = json!(loan_id);
    let r = test::TestRequest::post()
        .uri("/api/loans")
        .set_json(&stolen)
        .send_request(&service)
        .await;
    assert_eq!(r.status(), 409);
    let error: Value = test::read_body_json(r).await;
    assert_eq!(error["error"], "loan_id_taken");

    // Ada may hold two books: the second is lent, the third refused before any copy moves.
    let second = test::TestRequest::post()
        .uri("/api/loans")
        .set_json(borrow(ADA, RUST_BOOK))
        .send_request(&service)
        .await;
    assert_eq!(second.status(), 201);
    let third = test::TestRequest::post()
        .uri("/api/loans")
        .set_json(borrow(ADA, RUST_BOOK))
        .send_request(&service)
        .await;
    assert_eq!(third.status(), 409);
    let error: Value = test::read_body_json(third).await;
    assert_eq!(error["error"], "loan_limit_reached");
    assert!(
        error["message"].as_str().unwrap().contains("holds 2 books"),
        "{error}"
    );
    assert_eq!(desk.takes.lock().unwrap().len(), 2);

    // After a return, she may borrow again.
    let r = test::TestRequest::post()
        .uri(&format!("/api/loans/{loan_id}/return"))
        .send_request(&service)
        .await;
    assert_eq!(r.status(), 200);
    let again = test::TestRequest::post()
        .uri("/api/loans")
        .set_json(borrow(ADA, RUST_BOOK))
        .send_request(&service)
        .await;
    assert_eq!(again.status(), 201);
    eventually("three loans published", Duration::from_secs(5), || async {
        desk.borrowed.events().len() == 3
    })
    .await;
}

#[actix_web::test]
async fn refused_loans_store_nothing_and_say_why() {
    let desk = desk(Harness::new()).await;
    let service =
        test::init_service(App::new().configure(|c| desk.app.runtime.configure_http(c))).await;
    let cases = [
        (borrow(Uuid::now_v7(), RUST_BOOK), 404, "member_not_found"),
        (borrow(MALLORY, RUST_BOOK), 409, "member_suspended"),
        (borrow(ADA, "978-1-59327-828-2"), 422, "invalid_isbn"),
        (borrow(ADA, "9783096406154"), 404, "book_not_found"),
        (borrow(ADA, LENT_OUT), 409, "no_copy_available"),
        (
            json!({"member_id": "ada", "isbn": RUST_BOOK}),
            422,
            "invalid_body",
        ),
        (json!({"member_id": ADA}), 422, "invalid_body"),
        (
            json!({"member_id": ADA, "isbn": RUST_BOOK, "loan_id": 7}),
            422,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let r = test::TestRequest::post()
            .uri("/api/loans")
            .set_json(&body)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), status, "{body}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code, "{body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
    let unknown = "0190a5c2-0000-7000-8000-000000000000";
    for (post, uri, status, code) in [
        (
            false,
            "/api/loans/not-a-uuid".to_string(),
            400,
            "invalid_path",
        ),
        (
            false,
            format!("/api/loans/{unknown}"),
            404,
            "loan_not_found",
        ),
        (
            true,
            format!("/api/loans/{unknown}/return"),
            404,
            "loan_not_found",
        ),
        (false, "/api/loans".to_string(), 400, "invalid_query"),
        (
            false,
            "/api/loans?member_id=ada".to_string(),
            400,
            "invalid_query",
        ),
    ] {
        let request = if post {
            test::TestRequest::post()
        } else {
            test::TestRequest::get()
        };
        let r = request.uri(&uri).send_request(&service).await;
        assert_eq!(r.status(), status, "{uri}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code, "{uri}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        desk.borrowed.events().is_empty(),
        "no event for a refused loan"
    );
    let listed = test::TestRequest::get()
        .uri(&format!("/api/loans?member_id={ADA}"))
        .send_request(&service)
        .await;
    let listed: Value = test::read_body_json(listed).await;
    assert_eq!(listed["loans"], json!([]));
}

#[actix_web::test]
async fn the_loan_period_comes_from_the_module_settings() {
    let desk = desk(Harness::new().module_settings("loans", json!({"loan_days": 7}))).await;
    let service =
        test::init_service(App::new().configure(|c| desk.app.runtime.configure_http(c))).await;
    let today = chrono::Utc::now().date_naive();
    let r = test::TestRequest::post()
        .uri("/api/loans")
        .set_json(borrow(ADA, RUST_BOOK))
        .send_request(&service)
        .await;
    assert_eq!(r.status(), 201);
    let loan: Value = test::read_body_json(r).await;
    assert_eq!(loan["due_on"], (today + chrono::Days::new(7)).to_string());
}

#[actix_web::test]
#[should_panic(expected = "loan_days must be 1 to 365, got 0")]
async fn a_loan_period_out_of_range_stops_the_module() {
    desk(Harness::new().module_settings("loans", json!({"loan_days": 0}))).await;
}
