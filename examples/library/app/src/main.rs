//! `library`: run the lending library, migrate its database, inspect its modules and events.

fn main() -> std::process::ExitCode {
    library::APP.run()
}
