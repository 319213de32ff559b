//! `shop`: run the reference shop, migrate its database, inspect its modules and events.

use clap::Parser;

fn main() -> std::process::ExitCode {
    shop::cli::Cli::parse().run()
}
