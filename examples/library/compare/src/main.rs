//! `library-compare`: the library's placements in containers under its loan workload
//! (`scripts/compare.sh library`; `--help` for the flags).

use std::sync::Arc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    cleave_compare::run::main(
        library_compare::application()?,
        Arc::new(library_compare::Loans),
    )
    .await
}
