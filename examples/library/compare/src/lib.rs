//! The library's side of the comparison (`cleave-compare`): an operation is a new member
//! borrowing a book (`POST /api/members`, then `POST /api/loans`, which asks members and books
//! synchronously), complete when the members module has counted the loan from
//! `loans.book_borrowed`; the faults hit the loans module. Nothing in cleave-compare changed
//! for it.

use async_trait::async_trait;
use cleave_compare::{Answer, Application, Client, Words, Workload};
use serde_json::json;

/// The library with its built-in placements (`examples/library/app/placements.toml`).
pub fn application() -> anyhow::Result<Application> {
    Application::new(
        library::APP.name(),
        library::APP.default_config().placements,
    )
}

/// Books per scope: 1 000 copies each, borrowed in turn.
const BOOKS: usize = 10;
/// Copies of each book (the most a title can have).
const COPIES: usize = 1_000;

/// A new member borrowing one of a scope's books.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loans;

/// A valid ISBN-13 for book `k` of `scope`: `978`, nine digits from the scope and `k`, and the
/// check digit.
pub fn isbn(scope: &str, k: usize) -> String {
    let seed = scope
        .bytes()
        .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let body = format!("978{:09}", (seed % 10_000_000) * 100 + k as u64 % 100);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[async_trait]
impl Workload for Loans {
    fn words(&self) -> Words {
        Words {
            operation: "loan".into(),
            operations: "loans".into(),
            completed: "counted".into(),
            start: "`POST /api/members` and `POST /api/loans` (loans asks members and books \
                    synchronously; members counts the loan from `loans.book_borrowed`)"
                .into(),
            fault_module: "loans".into(),
            probe: "the member's loans (`GET /api/loans?member_id={id}`)".into(),
            effect: "the loan counted once".into(),
        }
    }

    async fn prepare(&self, client: &Client, scope: &str) -> anyhow::Result<()> {
        for k in 0..BOOKS {
            let book = json!({
                "isbn": isbn(scope, k),
                "title": format!("Volume {k} of {scope}"),
                "copies": COPIES,
            });
            match client.post("/api/books", &book).await {
                (201, _) => {}
                (status, body) => anyhow::bail!("add book {k} of {scope}: {status} {body}"),
            }
        }
        Ok(())
    }

    async fn start(&self, client: &Client, scope: &str, i: usize) -> Result<String, Answer> {
        let who = format!("{}-{i}", scope.to_lowercase());
        let member = json!({
            "name": format!("Member {who}"),
            "email": format!("{who}@example.org"),
            "loan_limit": 1,
        });
        let id = match client.post("/api/members", &member).await {
            (201, body) => match body["id"].as_str() {
                Some(id) => id.to_string(),
                None => return Err((201, body)),
            },
            answer => return Err(answer),
        };
        let loan = json!({"member_id": id, "isbn": isbn(scope, (i / COPIES) % BOOKS)});
        match client.post("/api/loans", &loan).await {
            (201, _) => Ok(id),
            answer => Err(answer),
        }
    }

    fn start_routes(&self) -> Vec<(&'static str, &'static str)> {
        vec![("POST", "/api/members"), ("POST", "/api/loans")]
    }

    async fn completed(&self, client: &Client, id: &str) -> bool {
        matches!(client.get(&format!("/api/members/{id}")).await,
            (200, body) if body["loans_total"] == 1)
    }

    async fn probe(&self, client: &Client, id: &str) -> u16 {
        client.get(&format!("/api/loans?member_id={id}")).await.0
    }

    async fn effect_once(&self, client: &Client, id: &str) -> anyhow::Result<bool> {
        match client.get(&format!("/api/members/{id}")).await {
            (200, body) => Ok(body["loans_total"] == 1 && body["active_loans"] == 1),
            (status, body) => anyhow::bail!("member {id}: {status} {body}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn isbns_have_their_check_digit_and_differ_by_scope_and_book() {
        // 978-1-59327-828-1, from the README.
        let isbn = super::isbn("LAT", 3);
        assert_eq!(isbn.len(), 13);
        assert!(isbn.starts_with("978"));
        assert_ne!(isbn, super::isbn("LAT", 4));
        assert_ne!(isbn, super::isbn("LOAD", 3));
        let sum: u32 = isbn
            .bytes()
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
            .sum();
        assert_eq!(sum % 10, 0);
    }
}
