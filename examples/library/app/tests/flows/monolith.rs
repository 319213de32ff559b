//! The library as one process (`library serve` with every module), in-process on port 0:
//! values moved between modules, and again with every message through the wire codec.

use crate::scenarios;
use crate::support::Library;

macro_rules! monolith_tests {
    ($mode:ident, $serialize:expr) => {
        mod $mode {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_loan_moves_one_copy_and_is_counted_once() {
                let library = Library::monolith($serialize).await;
                scenarios::a_loan_moves_one_copy_and_is_counted_once(&library.client()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn refused_loans_move_nothing() {
                let library = Library::monolith($serialize).await;
                scenarios::refused_loans_move_nothing(&library.client()).await;
            }
        }
    };
}

monolith_tests!(in_process, false);
monolith_tests!(serialized, true);
