//! Books on its own: its routes, `books.take_copy` and `books.release_copy` for real, and
//! `loans.book_returned` delivered by hand (twice, to prove the inbox puts a copy back once).

use actix_web::{App, test};
use books_api::{BooksError, ReleaseCopy, TakeCopy};
use cleave::testing::{Harness, envelope};
use cleave::{Applied, CallError, DeliveryFailure};
use loans_api::BookReturned;
use serde_json::{Value, json};
use uuid::Uuid;

const RUST_BOOK: &str = "978-1-59327-828-1";
const RUST_BOOK_ISBN: &str = "9781593278281";

#[actix_web::test]
async fn copies_go_out_once_per_loan_and_come_back_once() {
    for serialize in [false, true] {
        let app = Harness::new()
            .module(&books::MODULE)
            .serialize_messages(serialize)
            .start()
            .await;
        let service =
            test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
        let created = test::TestRequest::post()
            .uri("/api/books")
            .set_json(
                json!({"isbn": RUST_BOOK, "title": "The Rust Programming Language", "copies": 2}),
            )
            .send_request(&service)
            .await;
        assert_eq!(created.status(), 201);
        let book: Value = test::read_body_json(created).await;
        assert_eq!(book["isbn"], RUST_BOOK_ISBN, "stored as 13 digits");
        assert_eq!(
            (book["copies"].as_i64(), book["available"].as_i64()),
            (Some(2), Some(2))
        );

        macro_rules! available {
            () => {{
                let r = test::TestRequest::get()
                    .uri(&format!("/api/books/{RUST_BOOK}"))
                    .send_request(&service)
                    .await;
                assert_eq!(r.status(), 200);
                let b: Value = test::read_body_json(r).await;
                b["available"].as_i64().unwrap()
            }};
        }

        // Taking for the same loan twice takes one copy (a retried call).
        let first = Uuid::now_v7();
        for _ in 0..2 {
            let taken = app
                .bus()
                .call(TakeCopy {
                    loan_id: first,
                    isbn: RUST_BOOK.into(),
                })
                .await
                .unwrap();
            assert_eq!(taken.loan_id, first);
            assert_eq!(taken.isbn, RUST_BOOK_ISBN);
            assert_eq!(taken.title, "The Rust Programming Language");
        }
        assert_eq!(available!(), 1, "serialize={serialize}");
        let second = Uuid::now_v7();
        app.bus()
            .call(TakeCopy {
                loan_id: second,
                isbn: RUST_BOOK_ISBN.into(),
            })
            .await
            .unwrap();
        match app
            .bus()
            .call(TakeCopy {
                loan_id: Uuid::now_v7(),
                isbn: RUST_BOOK.into(),
            })
            .await
        {
            Err(CallError::Domain(BooksError::NoCopyAvailable { isbn })) => {
                assert_eq!(isbn, RUST_BOOK_ISBN)
            }
            other => panic!("expected NoCopyAvailable, got {other:?}"),
        }
        assert_eq!(available!(), 0);

        // The first loan is returned: the event, delivered twice, puts one copy back.
        let returned = envelope(
            "loans",
            &BookReturned {
                loan_id: first,
                member_id: Uuid::now_v7(),
                isbn: RUST_BOOK_ISBN.into(),
            },
        );
        assert_eq!(
            app.events().deliver("books", &returned).await,
            Ok(Applied::Now)
        );
        assert_eq!(
            app.events().deliver("books", &returned).await,
            Ok(Applied::Before)
        );
        assert_eq!(available!(), 1, "serialize={serialize}");

        // The second loan was never recorded: its copy is released, once.
        let released = app
            .bus()
            .call(ReleaseCopy { loan_id: second })
            .await
            .unwrap();
        assert!(released.released);
        let again = app
            .bus()
            .call(ReleaseCopy { loan_id: second })
            .await
            .unwrap();
        assert!(!again.released, "releasing twice puts one copy back");
        let unknown = app
            .bus()
            .call(ReleaseCopy {
                loan_id: Uuid::now_v7(),
            })
            .await
            .unwrap();
        assert!(!unknown.released);
        assert_eq!(available!(), 2);

        // The released loan tried again takes a copy again.
        app.bus()
            .call(TakeCopy {
                loan_id: second,
                isbn: RUST_BOOK.into(),
            })
            .await
            .unwrap();
        assert_eq!(available!(), 1);
    }
}

#[actix_web::test]
async fn requests_for_bad_or_unknown_books_say_why() {
    let app = Harness::new().module(&books::MODULE).start().await;
    match app
        .bus()
        .call(TakeCopy {
            loan_id: Uuid::now_v7(),
            isbn: "978-1-59327-828-2".into(),
        })
        .await
    {
        Err(CallError::Domain(BooksError::InvalidIsbn { isbn, reason })) => {
            assert_eq!(isbn, "978-1-59327-828-2");
            assert!(reason.contains("check digit"), "{reason}");
        }
        other => panic!("expected InvalidIsbn, got {other:?}"),
    }
    match app
        .bus()
        .call(TakeCopy {
            loan_id: Uuid::now_v7(),
            isbn: "9783096406154".into(),
        })
        .await
    {
        Err(CallError::Domain(BooksError::UnknownBook { isbn })) => {
            assert_eq!(isbn, "9783096406154")
        }
        other => panic!("expected UnknownBook, got {other:?}"),
    }
    // One loan is one copy of one title.
    let service = test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
    for isbn in [RUST_BOOK_ISBN, "9781492073680"] {
        let r = test::TestRequest::post()
            .uri("/api/books")
            .set_json(json!({"isbn": isbn, "title": "A book", "copies": 1}))
            .send_request(&service)
            .await;
        assert_eq!(r.status(), 201);
    }
    let loan_id = Uuid::now_v7();
    app.bus()
        .call(TakeCopy {
            loan_id,
            isbn: RUST_BOOK_ISBN.into(),
        })
        .await
        .unwrap();
    match app
        .bus()
        .call(TakeCopy {
            loan_id,
            isbn: "9781492073680".into(),
        })
        .await
    {
        Err(CallError::Domain(BooksError::LoanHoldsAnotherBook { held, isbn, .. })) => {
            assert_eq!(
                (held.as_str(), isbn.as_str()),
                (RUST_BOOK_ISBN, "9781492073680")
            )
        }
        other => panic!("expected LoanHoldsAnotherBook, got {other:?}"),
    }

    // A return for a copy books never lent is a bug elsewhere: refused, so it stays visible.
    let stray = envelope(
        "loans",
        &BookReturned {
            loan_id: Uuid::now_v7(),
            member_id: Uuid::now_v7(),
            isbn: RUST_BOOK_ISBN.into(),
        },
    );
    match app.events().deliver("books", &stray).await {
        Err(DeliveryFailure::Rejected(reason)) => {
            assert!(reason.contains("never lent"), "{reason}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[actix_web::test]
async fn bad_books_are_refused_with_the_rule_they_break() {
    let app = Harness::new().module(&books::MODULE).start().await;
    let service = test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
    let first = test::TestRequest::post()
        .uri("/api/books")
        .set_json(json!({"isbn": RUST_BOOK_ISBN, "title": "The Book", "copies": 1}))
        .send_request(&service)
        .await;
    assert_eq!(first.status(), 201);
    let cases = [
        (
            json!({"isbn": "978-1-59327-828-2", "title": "T", "copies": 1}),
            422,
            "invalid_isbn",
        ),
        (
            json!({"isbn": "12345", "title": "T", "copies": 1}),
            422,
            "invalid_isbn",
        ),
        (
            json!({"isbn": "9783096406154", "title": " ", "copies": 1}),
            422,
            "invalid_title",
        ),
        (
            json!({"isbn": "9783096406154", "title": "x".repeat(301), "copies": 1}),
            422,
            "invalid_title",
        ),
        (
            json!({"isbn": "9783096406154", "title": "T", "copies": 0}),
            422,
            "invalid_copies",
        ),
        (
            json!({"isbn": "9783096406154", "title": "T", "copies": 1001}),
            422,
            "invalid_copies",
        ),
        (
            json!({"isbn": "9783096406154", "title": "T", "copies": -1}),
            422,
            "invalid_body",
        ),
        (
            json!({"isbn": "9783096406154", "title": "T"}),
            422,
            "invalid_body",
        ),
        (
            json!({"isbn": RUST_BOOK, "title": "Again", "copies": 1}),
            409,
            "book_exists",
        ),
    ];
    for (body, status, code) in cases {
        let r = test::TestRequest::post()
            .uri("/api/books")
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
    for (uri, status, code) in [
        ("/api/books/not-an-isbn", 422, "invalid_isbn"),
        ("/api/books/9783096406154", 404, "book_not_found"),
    ] {
        let r = test::TestRequest::get()
            .uri(uri)
            .send_request(&service)
            .await;
        assert_eq!(r.status(), status, "{uri}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code, "{uri}");
    }
}
