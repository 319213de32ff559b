//! `shop-compare`: the shop's placements in containers under its order workload
//! (`scripts/compare.sh`; `--help` for the flags).

use std::sync::Arc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    cleave_compare::run::main(shop_compare::application()?, Arc::new(shop_compare::Orders)).await
}
