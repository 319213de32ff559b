//! Members on its own: its routes and `members.check_borrower` for real, and the loans
//! module's events delivered by hand (each twice, to prove the inbox counts a loan once).

use actix_web::{App, test};
use cleave::testing::{Harness, envelope};
use cleave::{Applied, CallError, DeliveryFailure};
use loans_api::{BookBorrowed, BookReturned};
use members_api::{CheckBorrower, MembersError};
use serde_json::{Value, json};
use uuid::Uuid;

#[actix_web::test]
async fn a_member_registers_is_checked_and_counts_loans_once() {
    for serialize in [false, true] {
        let app = Harness::new()
            .module(&members::MODULE)
            .serialize_messages(serialize)
            .start()
            .await;
        let service =
            test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
        let created = test::TestRequest::post()
            .uri("/api/members")
            .set_json(
                json!({"name": " Ada Lovelace ", "email": "Ada@Example.org", "loan_limit": 2}),
            )
            .send_request(&service)
            .await;
        assert_eq!(created.status(), 201);
        let member: Value = test::read_body_json(created).await;
        assert_eq!(member["name"], "Ada Lovelace");
        assert_eq!(member["email"], "ada@example.org");
        assert_eq!(member["loan_limit"], 2);
        assert_eq!(
            (
                member["active_loans"].as_i64(),
                member["loans_total"].as_i64()
            ),
            (Some(0), Some(0))
        );
        let member_id: Uuid = member["id"].as_str().unwrap().parse().unwrap();

        // Loans asks over the bus.
        let borrower = app.bus().call(CheckBorrower { member_id }).await.unwrap();
        assert_eq!(borrower.member_id, member_id);
        assert_eq!(borrower.name, "Ada Lovelace");
        assert_eq!(borrower.loan_limit, 2);

        // Each event delivered twice: applied once, counted once.
        let loan_id = Uuid::now_v7();
        let borrowed = envelope(
            "loans",
            &BookBorrowed {
                loan_id,
                member_id,
                isbn: "9781593278281".into(),
                title: "The Rust Programming Language".into(),
                due_on: "2026-12-24".into(),
            },
        );
        assert_eq!(
            app.events().deliver("members", &borrowed).await,
            Ok(Applied::Now)
        );
        assert_eq!(
            app.events().deliver("members", &borrowed).await,
            Ok(Applied::Before)
        );
        // The member's counts, as the public API shows them.
        macro_rules! counts {
            () => {{
                let r = test::TestRequest::get()
                    .uri(&format!("/api/members/{member_id}"))
                    .send_request(&service)
                    .await;
                assert_eq!(r.status(), 200);
                let m: Value = test::read_body_json(r).await;
                (
                    m["active_loans"].as_i64().unwrap(),
                    m["loans_total"].as_i64().unwrap(),
                )
            }};
        }
        assert_eq!(counts!(), (1, 1), "serialize={serialize}");
        let returned = envelope(
            "loans",
            &BookReturned {
                loan_id,
                member_id,
                isbn: "9781593278281".into(),
            },
        );
        for _ in 0..2 {
            app.events().deliver("members", &returned).await.unwrap();
        }
        assert_eq!(counts!(), (0, 1), "serialize={serialize}");

        // Suspended members may not borrow; suspending twice is the same as once.
        for _ in 0..2 {
            let r = test::TestRequest::post()
                .uri(&format!("/api/members/{member_id}/suspend"))
                .send_request(&service)
                .await;
            assert_eq!(r.status(), 200);
            let body: Value = test::read_body_json(r).await;
            assert_eq!(body["suspended"], true);
        }
        match app.bus().call(CheckBorrower { member_id }).await {
            Err(CallError::Domain(MembersError::Suspended { member_id: id })) => {
                assert_eq!(id, member_id)
            }
            other => panic!("expected Suspended, got {other:?}"),
        }
        let stranger = Uuid::now_v7();
        match app
            .bus()
            .call(CheckBorrower {
                member_id: stranger,
            })
            .await
        {
            Err(CallError::Domain(MembersError::UnknownMember { member_id: id })) => {
                assert_eq!(id, stranger)
            }
            other => panic!("expected UnknownMember, got {other:?}"),
        }
    }
}

#[actix_web::test]
async fn a_loan_of_an_unknown_member_is_refused_and_stays_in_the_outbox() {
    let app = Harness::new().module(&members::MODULE).start().await;
    let event = envelope(
        "loans",
        &BookBorrowed {
            loan_id: Uuid::now_v7(),
            member_id: Uuid::now_v7(),
            isbn: "9781593278281".into(),
            title: "The Rust Programming Language".into(),
            due_on: "2026-12-24".into(),
        },
    );
    match app.events().deliver("members", &event).await {
        Err(DeliveryFailure::Rejected(reason)) => {
            assert!(reason.contains("unknown member"), "{reason}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[actix_web::test]
async fn bad_members_are_refused_with_the_rule_they_break() {
    let app = Harness::new().module(&members::MODULE).start().await;
    let service = test::init_service(App::new().configure(|c| app.runtime.configure_http(c))).await;
    let first = test::TestRequest::post()
        .uri("/api/members")
        .set_json(json!({"name": "Grace", "email": "grace@example.org"}))
        .send_request(&service)
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = test::read_body_json(first).await;
    assert_eq!(first["loan_limit"], 3, "the default limit");

    let cases = [
        (
            json!({"name": " ", "email": "a@example.org"}),
            422,
            "invalid_name",
        ),
        (
            json!({"name": "x".repeat(201), "email": "a@example.org"}),
            422,
            "invalid_name",
        ),
        (json!({"name": "Ann", "email": "ann"}), 422, "invalid_email"),
        (
            json!({"name": "Ann", "email": "ann@localhost"}),
            422,
            "invalid_email",
        ),
        (
            json!({"name": "Ann", "email": "a@example.org", "loan_limit": 0}),
            422,
            "invalid_loan_limit",
        ),
        (
            json!({"name": "Ann", "email": "a@example.org", "loan_limit": 11}),
            422,
            "invalid_loan_limit",
        ),
        (
            json!({"name": "Ann", "email": "a@example.org", "loan_limit": -1}),
            422,
            "invalid_body",
        ),
        (json!({"name": "Ann"}), 422, "invalid_body"),
        (
            json!({"name": "Grace H.", "email": "GRACE@example.org"}),
            409,
            "email_taken",
        ),
    ];
    for (body, status, code) in cases {
        let r = test::TestRequest::post()
            .uri("/api/members")
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
    let malformed = test::TestRequest::post()
        .uri("/api/members")
        .insert_header(("content-type", "application/json"))
        .set_payload("{not json")
        .send_request(&service)
        .await;
    assert_eq!(malformed.status(), 400);
    for (method, uri, status, code) in [
        ("GET", "/api/members/not-a-uuid", 400, "invalid_path"),
        (
            "GET",
            "/api/members/0190a5c2-0000-7000-8000-000000000000",
            404,
            "member_not_found",
        ),
        (
            "POST",
            "/api/members/0190a5c2-0000-7000-8000-000000000000/suspend",
            404,
            "member_not_found",
        ),
    ] {
        let request = if method == "GET" {
            test::TestRequest::get()
        } else {
            test::TestRequest::post()
        };
        let r = request.uri(uri).send_request(&service).await;
        assert_eq!(r.status(), status, "{uri}");
        let error: Value = test::read_body_json(r).await;
        assert_eq!(error["error"], code, "{uri}");
    }
}
