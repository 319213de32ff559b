//! `shop`: run the reference shop, migrate its database, inspect its modules and events.

fn main() -> std::process::ExitCode {
    shop::APP.run()
}
