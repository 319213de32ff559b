//! A module in another language: the shop's Rust processes with `billing` played by the
//! Python implementation in `examples/python-billing` (written from the wire protocol document
//! and the published contracts only). Orders reach paid, each is invoiced, paid and told once,
//! across a SIGKILL and restart of the Python process; the Python side refuses forged senders.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cleave_extract::identity::new_credential;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::support::{ShopProcess, TestShop, count, free_address, metric_sum, sigkill, sqlite_in};

/// The shared token the Python billing accepts from tools (sender `external`) and from modules
/// without a credential of their own; the Rust process does not have it.
const TOOL_TOKEN: &str = "python-module-tool-token";
const PRICE: i64 = 250;

/// A `python3` that runs, from `PATH`.
fn python3() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .filter(|candidate| candidate.is_file())
        .find(|candidate| {
            Command::new(candidate)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Python billing, started as a child process.
struct PythonBilling {
    child: Child,
    public: String,
}

/// How to start the Python billing: always the same database and addresses.
struct PythonSetup {
    python: PathBuf,
    dir: PathBuf,
    public: String,
    internal: String,
    main_internal: String,
    billing_token: String,
    orders_digest: String,
}

impl PythonSetup {
    fn start(&self) -> PythonBilling {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("billing.log"))
            .expect("log file");
        let mut command = Command::new(&self.python);
        for (key, _) in std::env::vars() {
            if key.starts_with("BILLING_") {
                command.env_remove(key);
            }
        }
        let main = &self.main_internal;
        command
            .arg(root().join("examples/python-billing/billing.py"))
            .args(["--db", &self.dir.join("billing.db").display().to_string()])
            .args(["--listen", &self.public])
            .args(["--internal-listen", &self.internal])
            .args([
                "--remote",
                &format!("orders=http://{main},notifications=http://{main}"),
            ])
            .args(["--token", &self.billing_token])
            .args(["--accept", &format!("orders={}", self.orders_digest)])
            .args(["--internal-token", TOOL_TOKEN])
            .args(["--contracts", &root().join("modules").display().to_string()])
            .args(["--poll-interval-ms", "20", "--backoff-initial-ms", "20"])
            .args(["--backoff-max-ms", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().expect("start the Python billing");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the Python billing's first line");
        let public = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(self.dir.join("billing.log")).unwrap_or_default();
                panic!("the Python billing did not start: {line:?}\n{log}")
            })
            .to_string();
        PythonBilling { child, public }
    }
}

impl PythonBilling {
    /// SIGKILL: nothing of the Python process's own shutdown runs.
    fn kill9(mut self) {
        sigkill(&mut self.child, "the Python billing");
    }
}

impl Drop for PythonBilling {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An accepted order: id, customer, total.
type Placed = (String, String, i64);

/// Places orders one after the other (each for its own customer) until told to stop.
async fn keep_ordering(
    shop: TestShop,
    placed: mpsc::UnboundedSender<Placed>,
    mut stop: watch::Receiver<bool>,
) {
    for n in 0.. {
        if *stop.borrow_and_update() {
            break;
        }
        let customer = format!("py{n}");
        let quantity = 1 + n % 3;
        let id = shop.place_order(&customer, &[("PYB", quantity)]).await;
        placed
            .send((id, customer, PRICE * i64::from(quantity)))
            .unwrap();
    }
}

/// Receives accepted orders until there are `n`.
async fn until(received: &mut mpsc::UnboundedReceiver<Placed>, all: &mut Vec<Placed>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while all.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let order = tokio::time::timeout(left, received.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} orders accepted in 20 s", all.len()))
            .expect("the client is running");
        all.push(order);
    }
}

/// The order's receipt, which orders gets from billing over the wire: retried while the
/// breaker that the outage opened on orders' side is still open.
async fn receipt(shop: &TestShop, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, receipt) = shop.get(&format!("/api/orders/{id}/receipt")).await;
        if status == 200 {
            return receipt;
        }
        assert!(
            status == 503 && Instant::now() < deadline,
            "receipt of {id}: {status} {receipt}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs to the Python billing's internal listener as `sender` with `token`.
async fn post_internal(
    base: &str,
    path: &str,
    sender: &str,
    token: &str,
    contract: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("cleave-sender", sender)
        .header("cleave-contract", contract)
        .json(body)
        .send()
        .await
        .expect("the Python billing answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_billing_invoices_every_order_once_across_a_kill() {
    let Some(python) = python3() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is needed for the Python billing; scripts/test.sh installs it"
        );
        eprintln!("skipped: no python3 on PATH to run examples/python-billing");
        return;
    };
    let started = Instant::now();
    let (orders_token, orders_digest) = new_credential();
    let (billing_token, billing_digest) = new_credential();
    let billing_dir = tempfile::tempdir().unwrap();
    let main_dir = tempfile::tempdir().unwrap();
    let setup = PythonSetup {
        python,
        dir: billing_dir.path().to_path_buf(),
        public: free_address(),
        internal: free_address(),
        main_internal: free_address(),
        billing_token,
        orders_digest,
    };
    let billing_url = format!("http://{}", setup.internal);

    // Every module but billing, in one Rust process; per-module credentials only: orders
    // presents its token to billing, and accepts billing's events by the digest of its token.
    std::fs::write(
        main_dir.path().join("shop.toml"),
        format!(
            "[credentials.orders]\ntoken = \"{orders_token}\"\n\n\
             [credentials.billing]\naccept = [\"{billing_digest}\"]\n"
        ),
    )
    .unwrap();
    let rest = crate::topology::all_but("billing");
    let main_db = sqlite_in(main_dir.path());
    let main = ShopProcess::start_on(
        main_dir.path(),
        &main_db,
        "127.0.0.1:0",
        &setup.main_internal,
        &[
            ("SHOP_MODULES", rest.as_str()),
            ("SHOP_REMOTE__BILLING", billing_url.as_str()),
            ("SHOP_EXTRACT__BREAKER_OPEN_MS", "200"),
            ("SHOP_OUTBOX__BACKOFF_MAX_MS", "500"),
        ],
    );
    let mut billing = setup.start();
    let shop = TestShop::routed(
        main.base.clone(),
        vec![("/api/billing".to_string(), billing.public.clone())],
    );
    shop.stock_product("PYB", PRICE, 100_000).await;

    // Orders keep coming while the Python process is killed, stays down, and comes back.
    let (placed_tx, mut placed_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let client = tokio::spawn(keep_ordering(
        TestShop::at(main.base.clone()),
        placed_tx,
        stop_rx,
    ));
    let mut all = Vec::new();
    until(&mut placed_rx, &mut all, 10).await;
    billing.kill9();
    // At least 9 of the next 10 answers come after the kill: orders placed with billing down.
    while let Ok(order) = placed_rx.try_recv() {
        all.push(order);
    }
    let killed_at = all.len();
    until(&mut placed_rx, &mut all, killed_at + 10).await;
    // Down: orders are still accepted, but the receipt, which asks billing, is unavailable.
    let (status, body) = shop
        .get(&format!("/api/orders/{}/receipt", all[killed_at + 5].0))
        .await;
    assert_eq!(status, 503, "receipt while billing is down: {body}");
    billing = setup.start();
    let restarted_at = all.len();
    until(&mut placed_rx, &mut all, restarted_at + 10).await;
    stop_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(20), client)
        .await
        .expect("the client stops")
        .unwrap();
    while let Ok(order) = placed_rx.try_recv() {
        all.push(order);
    }

    // Every order paid, invoiced once for its total, paid once, told twice.
    for (id, customer, total) in &all {
        shop.wait_paid(id).await;
        let invoices = shop.invoices(id).await;
        assert_eq!(invoices.len(), 1, "order {id}: {invoices:?}");
        let invoice = &invoices[0];
        assert_eq!(
            (&invoice["amount_cents"], &invoice["status"]),
            (&json!(total), &json!("paid")),
            "{invoice}"
        );
        assert_eq!(invoice["customer"], json!(customer));
        let payments = invoice["payments"].as_array().unwrap();
        assert_eq!(payments.len(), 1, "order {id}: {invoice}");
        assert_eq!(payments[0]["amount_cents"], json!(total));
        let receipt = receipt(&shop, id).await;
        assert_eq!(receipt["invoice"]["id"], invoice["id"], "{receipt}");
        assert_eq!(receipt["invoice"]["paid_cents"], json!(total), "{receipt}");
        assert_eq!(receipt["invoice"]["status"], "paid", "{receipt}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while shop.notifications(customer).await.len() < 2 {
            assert!(Instant::now() < deadline, "{customer} was not told twice");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    // The same envelope twice: applied, then recognised by the inbox.
    let fake_order = uuid::Uuid::now_v7().to_string();
    let envelope = json!({
        "id": uuid::Uuid::now_v7().to_string(), "name": "orders.order_placed",
        "publisher": "orders", "published_at_ms": 1_764_500_000_123_i64,
        "payload": {"order_id": fake_order, "customer": "py-direct",
                    "lines": [{"sku": "PYB", "quantity": 2, "unit_price_cents": PRICE}],
                    "total_cents": 2 * PRICE},
    });
    let events = "/_cleave/v1/events/billing";
    let as_orders = |body: Value| {
        let (base, token) = (billing_url.clone(), orders_token.clone());
        async move { post_internal(&base, events, "orders", &token, "orders/1.1", &body).await }
    };
    assert_eq!(
        as_orders(envelope.clone()).await,
        (StatusCode::OK, json!({"status": "applied"}))
    );
    assert_eq!(
        as_orders(envelope.clone()).await,
        (StatusCode::OK, json!({"status": "duplicate"}))
    );
    // Forged publishers: notifications (proved by the shared token) passing orders' event off,
    // and orders (proved by its own token) sending an event it does not publish.
    let forged = post_internal(
        &billing_url,
        events,
        "notifications",
        TOOL_TOKEN,
        "orders/1.1",
        &envelope,
    )
    .await;
    assert_eq!(forged.0, StatusCode::FORBIDDEN, "{}", forged.1);
    assert_eq!(forged.1["error"], "forbidden_sender");
    let mut not_theirs = envelope.clone();
    not_theirs["name"] = json!("billing.payment_captured");
    let (status, body) = as_orders(not_theirs).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::FORBIDDEN, &json!("forbidden_sender"))
    );
    // Identity: orders' digest is configured, so the shared token does not prove orders.
    let (status, body) = post_internal(
        &billing_url,
        events,
        "orders",
        TOOL_TOKEN,
        "orders/1.1",
        &envelope,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // A request: the domain error for an order billing never heard of, with its header.
    let unknown = uuid::Uuid::now_v7().to_string();
    let response = reqwest::Client::new()
        .post(format!(
            "{billing_url}/_cleave/v1/requests/billing.get_invoice"
        ))
        .header("authorization", format!("Bearer {orders_token}"))
        .header("cleave-sender", "orders")
        .header("cleave-contract", "billing/1.0")
        .json(&json!({ "order_id": unknown }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cleave-outcome"], "domain-error");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"code": "not_invoiced", "order_id": unknown}));
    // Its contract, to a tool.
    let contracts: Value = reqwest::Client::new()
        .get(format!("{billing_url}/_cleave/contracts"))
        .header("authorization", format!("Bearer {TOOL_TOKEN}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("modules/billing/api/contract.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(contracts["contracts"]["billing"], published);

    // Python's database: one invoice and one payment per order (the direct one included).
    // Its outbox: everything delivered but the payment of the order orders never stored,
    // which orders refuses (422): set aside as failed after its attempts.
    let billing_db = format!(
        "sqlite://{}",
        billing_dir.path().join("billing.db").display()
    );
    let orders = all.len() as i64 + 1;
    assert_eq!(
        count(&billing_db, "SELECT COUNT(*) FROM billing_invoices").await,
        orders
    );
    assert_eq!(
        count(
            &billing_db,
            "SELECT COUNT(DISTINCT order_id) FROM billing_invoices"
        )
        .await,
        orders
    );
    assert_eq!(
        count(&billing_db, "SELECT COUNT(*) FROM billing_payments").await,
        orders
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let failed = count(
            &billing_db,
            &format!(
                "SELECT COUNT(*) FROM billing_outbox WHERE state = 'failed' \
                 AND subscriber = 'orders' AND refusals = 10 \
                 AND envelope LIKE '%{fake_order}%'"
            ),
        )
        .await;
        let undelivered = count(
            &billing_db,
            "SELECT COUNT(*) FROM billing_outbox WHERE state <> 'delivered'",
        )
        .await;
        if failed == 1 && undelivered == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "outbox: {failed} set aside, {undelivered} undelivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Everything has settled: still exactly two notifications per order, and the direct
    // order's payment was told to notifications once.
    for (_, customer, _) in &all {
        assert_eq!(shop.notifications(customer).await.len(), 2, "{customer}");
    }
    assert_eq!(shop.notifications("py-direct").await.len(), 1);
    let redelivered = metric_sum(
        &main.base,
        "cleave_event_deliveries_total",
        &[("subscriber", "billing"), ("outcome", "duplicate")],
    )
    .await;
    eprintln!(
        "{} orders through the Python billing ({} placed while it was down; {redelivered} \
         redeliveries to it recognised as duplicates), in {:?}",
        all.len(),
        restarted_at - killed_at,
        started.elapsed()
    );
    drop(billing);
}
