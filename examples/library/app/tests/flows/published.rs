//! The committed, generated files are what the code renders today: each module's published
//! contract (`contract.json` next to its api crate) and the module docs
//! (`examples/library/docs/modules`).

use std::path::{Path, PathBuf};

use cleave_app::docs;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The OpenAPI document of the library's internal endpoints is what the code generates today.
#[test]
fn the_committed_wire_spec_is_current() {
    let path = example_dir().join("docs/wire-protocol.openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == cleave_app::wire_spec_file(&library::APP),
        "{} is stale: run `cargo run -p library -- wire-spec --write examples/library/docs/wire-protocol.openapi.json`",
        path.display()
    );
}

/// The OpenAPI document of the library's public API is what the code generates today.
#[test]
fn the_committed_public_openapi_is_current() {
    let path = example_dir().join("docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == cleave_app::public_openapi_file(&library::APP),
        "{} is stale: run `cargo run -p library -- openapi --write examples/library/docs/openapi.json`",
        path.display()
    );
}

#[test]
fn the_committed_contracts_are_current() {
    let documents = cleave_app::published_contracts();
    assert_eq!(
        documents.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
        ["books", "loans", "members"],
        "every linked module's contract is registered, and only the library's"
    );
    for (module, document) in &documents {
        let path = example_dir().join(format!("modules/{module}/api/contract.json"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == cleave_app::contract_file(document),
            "{} is stale: run `cargo run -p library -- contracts --write`",
            path.display()
        );
    }
    let document = |module: &str| {
        documents
            .iter()
            .find(|(m, _)| *m == module)
            .map(|(_, d)| d.clone())
            .unwrap()
    };
    assert_eq!(
        document("members")["subscribes"],
        serde_json::json!(["loans.book_borrowed", "loans.book_returned"])
    );
    assert_eq!(
        document("books")["subscribes"],
        serde_json::json!(["loans.book_returned"])
    );
    let books = document("books");
    for request in ["books.take_copy", "books.release_copy"] {
        assert_eq!(books["requests"][request]["idempotent"], true, "{request}");
    }
    assert_eq!(
        document("members")["requests"]["members.check_borrower"]["idempotent"],
        true
    );
}

#[tokio::test]
async fn the_committed_module_docs_are_current() {
    let dir = example_dir().join("docs/modules");
    let modules = cleave::modules();
    let mut expected = vec![(
        "README.md".to_string(),
        docs::index(&library::APP, &modules),
    )];
    for m in &modules {
        let tables = cleave_app::verify::tables_created_by(m).await.unwrap();
        expected.push((
            format!("{}.md", m.name()),
            docs::canvas(&library::APP, m, &tables),
        ));
    }
    for (file, text) in expected {
        let committed = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
        assert!(
            committed == text,
            "examples/library/docs/modules/{file} is stale: run `cargo run -p library -- modules --write-docs examples/library/docs/modules`"
        );
    }
}
