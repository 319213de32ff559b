//! Starting shops for tests: in-process on port 0 with a fresh database, or as the real binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cleave::{Config, OutboxConfig};
use serde_json::{Value, json};

/// A running shop reached through its public API: one process, or several behind a
/// path-prefix router (as a gateway would route `/api/<module>` to the process hosting it).
pub(crate) struct TestShop {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    routes: Vec<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// How the modules talk to each other in a run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Values moved in-process.
    InProcess,
    /// Every local message through the JSON wire codec.
    Serialized,
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client")
}

/// Outbox settings that deliver quickly in tests.
pub(crate) fn quick_outbox() -> OutboxConfig {
    OutboxConfig {
        poll_interval_ms: 20,
        backoff_initial_ms: 20,
        backoff_max_ms: 500,
        ..OutboxConfig::default()
    }
}

/// Starts the whole shop in this process on a free port with a new SQLite database.
pub(crate) async fn spawn_app(mode: Mode) -> TestShop {
    spawn_app_on(mode, None).await
}

/// Starts the whole shop in this process on a free port, over `database` or a new SQLite one.
pub(crate) async fn spawn_app_on(mode: Mode, database: Option<String>) -> TestShop {
    spawn_app_with(mode, database, |_| {}).await
}

/// Like [`spawn_app_on`], with the configuration changed by `tweak` first.
pub(crate) async fn spawn_app_with(
    mode: Mode,
    database: Option<String>,
    tweak: impl FnOnce(&mut Config),
) -> TestShop {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        internal_listen: "127.0.0.1:0".parse().unwrap(),
        database: database.unwrap_or_else(|| sqlite_in(dir.path())),
        serialize_messages: matches!(mode, Mode::Serialized),
        workers: Some(2),
        outbox: quick_outbox(),
        ..shop::APP.default_config()
    };
    let mut config = config;
    tweak(&mut config);
    let app = shop::APP.build(&config).await.expect("the shop builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestShop {
        base,
        client: client(),
        routes: Vec::new(),
        _dir: Some(dir),
    }
}

impl TestShop {
    pub(crate) fn at(base: String) -> TestShop {
        TestShop {
            base,
            client: client(),
            routes: Vec::new(),
            _dir: None,
        }
    }

    /// A shop whose paths starting with each prefix go to that base URL, the rest to `base`.
    pub(crate) fn routed(base: String, routes: Vec<(String, String)>) -> TestShop {
        TestShop {
            base,
            client: client(),
            routes,
            _dir: None,
        }
    }

    /// The full URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        let base = self
            .routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map_or(self.base.as_str(), |(_, base)| base.as_str());
        format!("{base}{path}")
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let r = self
            .client
            .request(method.clone(), self.url(path))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, &body).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, &body).await
    }

    /// Adds a product with `stock` units on hand.
    pub(crate) async fn stock_product(&self, sku: &str, price_cents: i64, stock: u32) {
        let (status, body) = self
            .post(
                "/api/catalog/products",
                json!({"sku": sku, "name": format!("Product {sku}"), "price_cents": price_cents}),
            )
            .await;
        assert_eq!(status, 201, "create {sku}: {body}");
        let (status, body) = self
            .put(
                &format!("/api/inventory/stock/{sku}"),
                json!({ "quantity": stock }),
            )
            .await;
        assert_eq!(status, 200, "stock {sku}: {body}");
    }

    /// Places an order and returns its id; panics unless it is accepted.
    pub(crate) async fn place_order(&self, customer: &str, lines: &[(&str, u32)]) -> String {
        let (status, body) = self.try_order(customer, lines).await;
        assert_eq!(status, 201, "order refused: {body}");
        body["id"].as_str().expect("order id").to_string()
    }

    pub(crate) async fn try_order(&self, customer: &str, lines: &[(&str, u32)]) -> (u16, Value) {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, quantity)| json!({"sku": sku, "quantity": quantity}))
            .collect();
        self.post("/api/orders", json!({"customer": customer, "lines": lines}))
            .await
    }

    pub(crate) async fn order_status(&self, id: &str) -> String {
        let (status, body) = self.get(&format!("/api/orders/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body["status"].as_str().unwrap().to_string()
    }

    /// Waits until the order is paid.
    pub(crate) async fn wait_paid(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.order_status(id).await == "paid" {
                return;
            }
            assert!(Instant::now() < deadline, "order {id} did not reach paid");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the stock of `sku` shows `on_hand` and `reserved` (the inventory learns of
    /// placed and paid orders through events, so its figures settle a little later).
    pub(crate) async fn wait_stock(&self, sku: &str, on_hand: i64, reserved: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, stock) = self.get(&format!("/api/inventory/stock/{sku}")).await;
            if stock["on_hand"] == on_hand && stock["reserved"] == reserved {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "stock of {sku} did not settle at on_hand {on_hand}, reserved {reserved}: {stock}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The order's invoices, each with its payments.
    pub(crate) async fn invoices(&self, order_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/billing/invoices?order_id={order_id}"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["invoices"].as_array().unwrap().clone()
    }

    /// Waits until every `(order id, customer)` of `accepted` is paid, and checks that it was
    /// invoiced once, paid once and its customer told twice (placed, paid): nothing lost,
    /// nothing doubled, seen through the public API.
    pub(crate) async fn assert_settled_once<'a>(
        &self,
        accepted: impl IntoIterator<Item = &'a (String, String)>,
    ) {
        for (id, customer) in accepted {
            self.wait_paid(id).await;
            let invoices = self.invoices(id).await;
            assert_eq!(invoices.len(), 1, "order {id}: {invoices:?}");
            assert_eq!(invoices[0]["payments"].as_array().unwrap().len(), 1);
            let deadline = Instant::now() + Duration::from_secs(20);
            while self.notifications(customer).await.len() < 2 {
                assert!(Instant::now() < deadline, "{customer} was not told twice");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(self.notifications(customer).await.len(), 2, "{customer}");
        }
    }

    pub(crate) async fn notifications(&self, customer: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/notifications?customer={customer}"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["notifications"].as_array().unwrap().clone()
    }
}

/// The real `shop` binary, started as a child process on a free port.
pub(crate) struct ShopProcess {
    child: Child,
    pub(crate) base: String,
}

/// A command for the `shop` binary that ignores the developer's own `SHOP_*` settings and
/// `shop.toml`.
pub(crate) fn shop_command(workdir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shop"));
    command.current_dir(workdir);
    for (key, _) in std::env::vars() {
        if key.starts_with("SHOP_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "warn");
    command
}

impl ShopProcess {
    /// Starts `shop serve` on port 0 over `database`, with extra environment.
    pub(crate) fn start(workdir: &Path, database: &str, env: &[(&str, &str)]) -> ShopProcess {
        Self::start_on(workdir, database, "127.0.0.1:0", "127.0.0.1:0", env)
    }

    /// Starts `shop serve` on the given public and internal addresses.
    pub(crate) fn start_on(
        workdir: &Path,
        database: &str,
        listen: &str,
        internal_listen: &str,
        env: &[(&str, &str)],
    ) -> ShopProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(workdir.join("shop.log"))
            .expect("log file");
        let mut command = shop_command(workdir);
        command
            .args([
                "serve",
                "--listen",
                listen,
                "--internal-listen",
                internal_listen,
                "--database",
                database,
            ])
            .env("SHOP_OUTBOX__POLL_INTERVAL_MS", "20")
            .env("SHOP_OUTBOX__BACKOFF_INITIAL_MS", "20")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start the shop binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the shop's first line");
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(workdir.join("shop.log")).unwrap_or_default();
                panic!("the shop did not start: {line:?}\n{log}")
            })
            .to_string();
        ShopProcess { child, base }
    }

    /// Starts `n` replicas of one node over `database`, each on an internal address of its
    /// own; returns them (as options, to be taken and killed) and their internal URLs,
    /// comma-separated as `remote.<module>` takes them.
    pub(crate) fn replicas(
        workdir: &Path,
        database: &str,
        n: usize,
        env: &[(&str, &str)],
    ) -> (Vec<Option<ShopProcess>>, String) {
        let internals: Vec<String> = (0..n).map(|_| free_address()).collect();
        let urls = internals
            .iter()
            .map(|a| format!("http://{a}"))
            .collect::<Vec<_>>()
            .join(",");
        let processes = internals
            .iter()
            .map(|internal| {
                Some(Self::start_on(
                    workdir,
                    database,
                    "127.0.0.1:0",
                    internal,
                    env,
                ))
            })
            .collect();
        (processes, urls)
    }

    /// SIGTERM, then waits for the process to exit and returns how it did.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("send SIGTERM");
        self.child.wait().expect("reap the shop")
    }

    /// SIGKILL: no shutdown code runs, exactly like a crash.
    pub(crate) fn kill9(mut self) {
        sigkill(&mut self.child, "the shop");
    }
}

impl Drop for ShopProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a shop's database from a test, to look at or change what a process left there.
pub(crate) async fn open_db(url: &str) -> cleave::Database {
    cleave::Database::connect(url, &cleave::DatabaseOptions::default())
        .await
        .expect("the database opens")
}

/// A loopback address that is free now (bound and released), for a process that must be
/// reachable at a known address before it starts.
pub(crate) fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().unwrap().to_string()
}

/// Sends SIGKILL to `child` (no shutdown code of it runs, exactly like a crash) and reaps it.
pub(crate) fn sigkill(child: &mut Child, what: &str) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap_or_else(|e| panic!("send SIGKILL to {what}: {e}"));
    child.wait().unwrap_or_else(|e| panic!("reap {what}: {e}"));
}

/// The number the SQLite query `sql` (a `SELECT COUNT(*) …`) answers on `database`.
pub(crate) async fn count(database: &str, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let db = open_db(database).await;
    let row = db
        .read()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    let n = row.try_get_by_index::<i64>(0).unwrap();
    db.close().await;
    n
}

/// Fetches `/metrics` of a process and sums the samples of `name` whose labels include all of
/// `labels`.
pub(crate) async fn metric_sum(base: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let page = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |sum, v| sum + v)
}

/// A scratch copy of the tree at `root`, without the entries named in `skip` (at any depth).
pub(crate) fn scratch_copy(root: &Path, skip: &[&str]) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path, skip: &[&str]) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if skip.iter().any(|s| name == *s) {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                copy(&path, &to.join(&name), skip);
            } else {
                std::fs::copy(&path, to.join(&name)).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(root, dir.path(), skip);
    dir
}

/// `sqlite://…` URL of a database file in `dir`.
pub(crate) fn sqlite_in(dir: &Path) -> String {
    let path: PathBuf = dir.join("shop.db");
    format!("sqlite://{}", path.display())
}
