//! Starting libraries for tests (in-process on port 0 with a fresh SQLite file, as one process
//! or several), and a client of the public API.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use cleave::{Config, ExtractConfig, OutboxConfig};
use cleave_app::{Listeners, StopHandle};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The shared internal token of test topologies.
pub(crate) const TOKEN: &str = "test-internal-token";

/// Every module linked into the library, from the registry.
pub(crate) fn modules() -> Vec<&'static str> {
    cleave::modules().iter().map(|m| m.name()).collect()
}

fn bind_free() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("a free loopback port")
}

fn sqlite_in(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("library.db").display())
}

/// Outbox settings that deliver quickly in tests.
fn quick_outbox() -> OutboxConfig {
    OutboxConfig {
        poll_interval_ms: 20,
        backoff_initial_ms: 20,
        backoff_max_ms: 500,
        ..OutboxConfig::default()
    }
}

/// The configuration of one test process hosting `modules` (all when empty) on `listeners`.
fn config_for(listeners: &Listeners, dir: &Path, modules: &[&str]) -> Config {
    Config {
        listen: listeners.public.local_addr().unwrap(),
        internal_listen: listeners.internal.local_addr().unwrap(),
        database: sqlite_in(dir),
        workers: Some(2),
        outbox: quick_outbox(),
        modules: modules.iter().map(|m| m.to_string()).collect(),
        ..library::APP.default_config()
    }
}

/// One running process of a test library.
struct Process {
    config: Config,
    public: SocketAddr,
    internal: SocketAddr,
    running: Option<(StopHandle, JoinHandle<anyhow::Result<()>>)>,
}

async fn launch(
    config: &Config,
    listeners: Listeners,
) -> (StopHandle, JoinHandle<anyhow::Result<()>>) {
    let server = library::APP
        .build_on(config, listeners)
        .await
        .expect("a library process builds");
    let handle = server.handle();
    (handle, tokio::spawn(server.run_until_stopped()))
}

/// Processes hosting the library's modules between them, each on its own database, reaching
/// each other over loopback through the internal endpoints, exactly as separate
/// `library serve --modules … --remote …` processes would.
pub(crate) struct Library {
    processes: Vec<Process>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Library {
    /// The whole library in one process, on port 0 with a new SQLite file; `serialize` sends
    /// every local message through the wire codec, as if every module were remote.
    pub(crate) async fn monolith(serialize: bool) -> Library {
        let dir = tempfile::tempdir().expect("temporary directory");
        let listeners = Listeners {
            public: bind_free(),
            internal: bind_free(),
        };
        let config = Config {
            serialize_messages: serialize,
            ..config_for(&listeners, dir.path(), &[])
        };
        let running = launch(&config, listeners).await;
        Library {
            processes: vec![Process {
                public: config.listen,
                internal: config.internal_listen,
                config,
                running: Some(running),
            }],
            _dirs: vec![dir],
        }
    }

    /// One process per group of modules; together the groups host every module.
    pub(crate) async fn placed(groups: &[&[&str]]) -> Library {
        Library::placed_with(groups, |_| {}).await
    }

    /// Like [`Library::placed`], with every process's configuration changed by `tweak`.
    pub(crate) async fn placed_with(groups: &[&[&str]], tweak: impl Fn(&mut Config)) -> Library {
        let listeners: Vec<Listeners> = groups
            .iter()
            .map(|_| Listeners {
                public: bind_free(),
                internal: bind_free(),
            })
            .collect();
        let mut processes = Vec::new();
        let mut dirs = Vec::new();
        for (index, group) in groups.iter().enumerate() {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut remote = BTreeMap::new();
            for module in modules() {
                if !group.contains(&module) {
                    let host = groups
                        .iter()
                        .position(|g| g.contains(&module))
                        .unwrap_or_else(|| panic!("no process hosts `{module}`"));
                    let url = format!("http://{}", listeners[host].internal.local_addr().unwrap());
                    remote.insert(module.to_string(), vec![url]);
                }
            }
            let mut config = Config {
                remote,
                internal_token: Some(TOKEN.to_string()),
                extract: ExtractConfig {
                    timeout_ms: 1_000,
                    breaker_open_ms: 300,
                    ..ExtractConfig::default()
                },
                ..config_for(&listeners[index], dir.path(), group)
            };
            tweak(&mut config);
            processes.push(Process {
                public: config.listen,
                internal: config.internal_listen,
                config,
                running: None,
            });
            dirs.push(dir);
        }
        for (process, listeners) in processes.iter_mut().zip(listeners) {
            process.running = Some(launch(&process.config, listeners).await);
        }
        Library {
            processes,
            _dirs: dirs,
        }
    }

    /// Two processes: `module` alone, and the other modules together.
    pub(crate) async fn extracting(module: &str) -> Library {
        let rest: Vec<&str> = modules().into_iter().filter(|m| *m != module).collect();
        Library::placed(&[&rest, &[module]]).await
    }

    /// A client of the whole library: `/api/<module>` goes to the process hosting it, as a
    /// gateway would route it.
    pub(crate) fn client(&self) -> Client {
        let mut routes = Vec::new();
        for process in &self.processes {
            let hosted: Vec<String> = if process.config.modules.is_empty() {
                modules().iter().map(|m| m.to_string()).collect()
            } else {
                process.config.modules.clone()
            };
            for module in hosted {
                routes.push((
                    format!("/api/{module}"),
                    format!("http://{}", process.public),
                ));
            }
        }
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("HTTP client"),
            routes,
        }
    }

    fn index_of(&self, module: &str) -> usize {
        self.processes
            .iter()
            .position(|p| {
                p.config.modules.is_empty() || p.config.modules.iter().any(|m| m == module)
            })
            .unwrap_or_else(|| panic!("no process hosts `{module}`"))
    }

    /// Stops the process hosting `module` (both servers and its relay), as an outage would.
    pub(crate) async fn stop(&mut self, module: &str) {
        let index = self.index_of(module);
        let (handle, task) = self.processes[index]
            .running
            .take()
            .expect("the process is running");
        handle.stop(false).await;
        task.await
            .expect("the process task")
            .expect("the process stopped cleanly");
    }

    /// Starts the stopped process hosting `module` again, on the same ports and database.
    pub(crate) async fn restart(&mut self, module: &str) {
        let index = self.index_of(module);
        let process = &mut self.processes[index];
        assert!(process.running.is_none(), "the process is still running");
        let listeners = Listeners {
            public: TcpListener::bind(process.public).expect("the old public port"),
            internal: TcpListener::bind(process.internal).expect("the old internal port"),
        };
        process.running = Some(launch(&process.config, listeners).await);
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        for process in &mut self.processes {
            if let Some((_, task)) = process.running.take() {
                task.abort();
            }
        }
    }
}

/// The library's public API, as a client sees it.
pub(crate) struct Client {
    http: reqwest::Client,
    routes: Vec<(String, String)>,
}

impl Client {
    fn url(&self, path: &str) -> String {
        let base = self
            .routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map(|(_, base)| base.as_str())
            .unwrap_or_else(|| panic!("no process serves {path}"));
        format!("{base}{path}")
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Registers a member who may hold `loan_limit` books; returns their id.
    pub(crate) async fn register(&self, name: &str, loan_limit: u32) -> String {
        let email = format!("{}@example.org", name.to_lowercase());
        let (status, body) = self
            .post(
                "/api/members",
                json!({"name": name, "email": email, "loan_limit": loan_limit}),
            )
            .await;
        assert_eq!(status, 201, "register {name}: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Adds a book with `copies` copies.
    pub(crate) async fn add_book(&self, isbn: &str, title: &str, copies: u32) {
        let (status, body) = self
            .post(
                "/api/books",
                json!({"isbn": isbn, "title": title, "copies": copies}),
            )
            .await;
        assert_eq!(status, 201, "add {isbn}: {body}");
    }

    /// Borrows, optionally with a client-chosen loan id: status and body.
    pub(crate) async fn borrow(
        &self,
        member: &str,
        isbn: &str,
        loan_id: Option<&str>,
    ) -> (u16, Value) {
        let mut body = json!({"member_id": member, "isbn": isbn});
        if let Some(id) = loan_id {
            body["loan_id"] = json!(id);
        }
        self.post("/api/loans", body).await
    }

    /// The member's `(active_loans, loans_total)`, as members counted them from the events.
    pub(crate) async fn loan_counts(&self, member: &str) -> (i64, i64) {
        let (status, body) = self.get(&format!("/api/members/{member}")).await;
        assert_eq!(status, 200, "{body}");
        (
            body["active_loans"].as_i64().unwrap(),
            body["loans_total"].as_i64().unwrap(),
        )
    }

    /// Copies of `isbn` on the shelf.
    pub(crate) async fn available(&self, isbn: &str) -> i64 {
        let (status, body) = self.get(&format!("/api/books/{isbn}")).await;
        assert_eq!(status, 200, "{body}");
        body["available"].as_i64().unwrap()
    }

    /// Waits until the member's loan counts are `expected`: the asynchronous effect of the
    /// loans module's events.
    pub(crate) async fn wait_loan_counts(&self, member: &str, expected: (i64, i64)) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let counts = self.loan_counts(member).await;
            if counts == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "member {member} has loan counts {counts:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until `available` copies of `isbn` are on the shelf.
    pub(crate) async fn wait_available(&self, isbn: &str, expected: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let available = self.available(isbn).await;
            if available == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{isbn} has {available} copies on the shelf, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}
