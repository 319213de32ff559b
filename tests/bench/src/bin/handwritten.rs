//! `handwritten`: the shop's order flow written by hand with actix-web and sqlx, no framework,
//! as a careful team would write it: one writer connection (SQLite `BEGIN IMMEDIATE`), a read
//! pool, WAL with `synchronous = NORMAL` (the framework's default durability), the order and its
//! reservation and outbox rows in one transaction, and a relay task that applies batches of
//! outbox rows in one transaction each. The same tables' worth of writes as the shop, so the
//! write-path benchmark compares the two in the same run (`cleave-bench`, `write_path.rs`).
//!
//! Per order: stock update, reservation and its line, order and its line, three outbox rows
//! (order placed, to billing, inventory and notifications). The relay: for each row an inbox
//! row, then billing writes an invoice, a payment and two outbox rows (payment captured, to
//! orders and notifications), inventory confirms the reservation, notifications writes a
//! message; orders marks the order paid and writes one outbox row (order paid, to inventory),
//! which sells the reservation (stock leaves `on_hand`); every delivered row is marked.
//!
//! `handwritten --listen 127.0.0.1:8090 --database sqlite:///tmp/hw.db` (or a PostgreSQL URL).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::Parser;
use sea_orm::sqlx::{self, Row};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Debug, Parser)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// `sqlite://PATH` or `postgres://…`.
    #[arg(long)]
    database: String,
    /// SQLite: begin and commit with plain statements on a pooled connection instead of sqlx's
    /// transactions, whose `BEGIN` and `COMMIT` wait for the caller to acknowledge the answer
    /// (an ablation: what that acknowledgement costs per transaction).
    #[arg(long)]
    plain_transactions: bool,
}

/// `--plain-transactions`, set once at start.
static PLAIN_TRANSACTIONS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The two databases the baseline runs on, each with its own pools.
#[derive(Clone)]
enum Db {
    Sqlite {
        writer: sqlx::SqlitePool,
        reader: sqlx::SqlitePool,
    },
    Postgres(sqlx::PgPool),
}

/// Runs the statements of one transaction on either database: `$tx` is a sqlx transaction
/// (with `--plain-transactions`, a pooled SQLite connection inside `BEGIN IMMEDIATE`), `$q(sql)`
/// builds a query with the right placeholder style.
macro_rules! with_tx {
    ($db:expr, |$tx:ident, $q:ident| $body:block) => {
        match $db {
            Db::Sqlite { writer, .. } => {
                #[allow(unused_macros)]
                macro_rules! $q {
                    ($sql:expr) => {
                        sqlx::query::<sqlx::Sqlite>(sqlx::AssertSqlSafe($sql.to_string()))
                    };
                }
                if PLAIN_TRANSACTIONS.get() == Some(&true) {
                    let mut $tx = writer.acquire().await?;
                    sqlx::query("BEGIN IMMEDIATE").execute(&mut *$tx).await?;
                    // In a block of its own, so that a `?` in the body ends here and the
                    // transaction is rolled back before the connection goes back to the pool.
                    let result: Result<_> = async { $body }.await;
                    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
                    sqlx::query(end).execute(&mut *$tx).await?;
                    result
                } else {
                    let mut $tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                    let result = $body;
                    if result.is_ok() {
                        $tx.commit().await?;
                    }
                    result
                }
            }
            Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                #[allow(unused_macros)]
                macro_rules! $q {
                    ($sql:expr) => {
                        sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sqlx_pg($sql)))
                    };
                }
                let result = $body;
                if result.is_ok() {
                    $tx.commit().await?;
                }
                result
            }
        }
    };
}

/// `?` placeholders as PostgreSQL's `$1, $2, …`.
fn sqlx_pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS hw_products (sku VARCHAR(64) PRIMARY KEY, name TEXT NOT NULL, price_cents BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hw_stock (sku VARCHAR(64) PRIMARY KEY, on_hand BIGINT NOT NULL, reserved BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hw_reservations (id VARCHAR(36) PRIMARY KEY, state VARCHAR(16) NOT NULL, expires_at_ms BIGINT)",
    "CREATE TABLE IF NOT EXISTS hw_reservation_lines (reservation_id VARCHAR(36) NOT NULL, sku VARCHAR(64) NOT NULL, quantity BIGINT NOT NULL, PRIMARY KEY (reservation_id, sku))",
    "CREATE TABLE IF NOT EXISTS hw_orders (id VARCHAR(36) PRIMARY KEY, customer TEXT NOT NULL, status VARCHAR(16) NOT NULL, total_cents BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hw_order_lines (order_id VARCHAR(36) NOT NULL, sku VARCHAR(64) NOT NULL, quantity BIGINT NOT NULL, unit_price_cents BIGINT NOT NULL, PRIMARY KEY (order_id, sku))",
    "CREATE TABLE IF NOT EXISTS hw_outbox (id BIGINT PRIMARY KEY, event_id VARCHAR(36) NOT NULL, event_name VARCHAR(64) NOT NULL, subscriber VARCHAR(32) NOT NULL, payload TEXT NOT NULL, status VARCHAR(16) NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hw_outbox_pending ON hw_outbox (id) WHERE status = 'pending'",
    "CREATE TABLE IF NOT EXISTS hw_inbox (subscriber VARCHAR(32) NOT NULL, event_id VARCHAR(36) NOT NULL, PRIMARY KEY (subscriber, event_id))",
    "CREATE TABLE IF NOT EXISTS hw_invoices (id VARCHAR(36) PRIMARY KEY, order_id VARCHAR(36) NOT NULL, amount_cents BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hw_payments (id VARCHAR(36) PRIMARY KEY, invoice_id VARCHAR(36) NOT NULL, amount_cents BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hw_notifications (id VARCHAR(36) PRIMARY KEY, customer TEXT NOT NULL, kind VARCHAR(64) NOT NULL, text TEXT NOT NULL)",
];

/// Outbox ids: one sequence for the process (the writer is single, so a counter suffices on
/// SQLite; PostgreSQL uses the same counter seeded from the table).
struct Ids(std::sync::atomic::AtomicI64);

impl Ids {
    fn next(&self) -> i64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

struct State {
    db: Db,
    ids: Ids,
    wake: Notify,
}

#[derive(Deserialize)]
struct NewOrder {
    customer: String,
    lines: Vec<NewLine>,
}

#[derive(Deserialize)]
struct NewLine {
    sku: String,
    quantity: u32,
}

type Result<T> = std::result::Result<T, sqlx::Error>;

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// What placing an order found.
enum Placed {
    Ok { id: Uuid, total: i64 },
    UnknownSku,
    Short,
}

async fn place(state: &State, order: &NewOrder) -> Result<Placed> {
    let id = Uuid::now_v7();
    let id_text = id.to_string();
    let mut lines: Vec<&NewLine> = order.lines.iter().collect();
    lines.sort_by(|a, b| a.sku.cmp(&b.sku));
    let event_id = Uuid::now_v7().to_string();
    let ids: Vec<i64> = (0..3).map(|_| state.ids.next()).collect();
    with_tx!(&state.db, |tx, q| {
        let mut total = 0i64;
        let mut priced = Vec::with_capacity(lines.len());
        for line in &lines {
            let row = q!("SELECT price_cents FROM hw_products WHERE sku = ?")
                .bind(&line.sku)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Ok(Placed::UnknownSku);
            };
            let price: i64 = row.get(0);
            total += price * i64::from(line.quantity);
            priced.push(price);
        }
        for line in &lines {
            let held = q!("UPDATE hw_stock SET reserved = reserved + ? WHERE sku = ? AND on_hand - reserved >= ?")
                .bind(i64::from(line.quantity))
                .bind(&line.sku)
                .bind(i64::from(line.quantity))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if held == 0 {
                return Ok(Placed::Short);
            }
        }
        q!("INSERT INTO hw_reservations (id, state, expires_at_ms) VALUES (?, 'held', ?)")
            .bind(&id_text)
            .bind(now_ms() + 900_000)
            .execute(&mut *tx)
            .await?;
        for line in &lines {
            q!("INSERT INTO hw_reservation_lines (reservation_id, sku, quantity) VALUES (?, ?, ?)")
                .bind(&id_text)
                .bind(&line.sku)
                .bind(i64::from(line.quantity))
                .execute(&mut *tx)
                .await?;
        }
        q!("INSERT INTO hw_orders (id, customer, status, total_cents) VALUES (?, ?, 'placed', ?)")
            .bind(&id_text)
            .bind(&order.customer)
            .bind(total)
            .execute(&mut *tx)
            .await?;
        for (line, price) in lines.iter().zip(&priced) {
            q!("INSERT INTO hw_order_lines (order_id, sku, quantity, unit_price_cents) VALUES (?, ?, ?, ?)")
                .bind(&id_text)
                .bind(&line.sku)
                .bind(i64::from(line.quantity))
                .bind(*price)
                .execute(&mut *tx)
                .await?;
        }
        let payload = json!({
            "order_id": id, "customer": order.customer, "total_cents": total,
            "lines": lines.iter().zip(&priced).map(|(l, p)| json!({"sku": l.sku, "quantity": l.quantity, "unit_price_cents": p})).collect::<Vec<_>>(),
        })
        .to_string();
        q!("INSERT INTO hw_outbox (id, event_id, event_name, subscriber, payload, status) VALUES (?, ?, 'orders.order_placed', 'billing', ?, 'pending'), (?, ?, 'orders.order_placed', 'inventory', ?, 'pending'), (?, ?, 'orders.order_placed', 'notifications', ?, 'pending')")
            .bind(ids[0]).bind(&event_id).bind(&payload)
            .bind(ids[1]).bind(&event_id).bind(&payload)
            .bind(ids[2]).bind(&event_id).bind(&payload)
            .execute(&mut *tx)
            .await?;
        Ok(Placed::Ok { id, total })
    })
}

async fn post_order(state: web::Data<Arc<State>>, body: web::Json<NewOrder>) -> HttpResponse {
    let order = body.into_inner();
    let customer = order.customer.trim();
    if customer.is_empty()
        || order.lines.is_empty()
        || order.lines.len() > 100
        || order
            .lines
            .iter()
            .any(|l| l.quantity == 0 || l.quantity > 10_000)
    {
        return HttpResponse::UnprocessableEntity()
            .json(json!({"error": "invalid_order", "message": "invalid order"}));
    }
    match place(&state, &order).await {
        Ok(Placed::Ok { id, total }) => {
            state.wake.notify_one();
            HttpResponse::Created()
                .insert_header(("Location", format!("/api/orders/{id}")))
                .json(json!({"id": id, "status": "placed", "total_cents": total}))
        }
        Ok(Placed::UnknownSku) => {
            HttpResponse::NotFound().json(json!({"error": "unknown_sku", "message": "unknown SKU"}))
        }
        Ok(Placed::Short) => HttpResponse::Conflict()
            .json(json!({"error": "insufficient_stock", "message": "not enough stock"})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"error": "unavailable", "message": e.to_string()})),
    }
}

async fn add_product(state: &State, sku: &str, price: i64, stock: i64) -> Result<()> {
    with_tx!(&state.db, |tx, q| {
        q!("INSERT INTO hw_products (sku, name, price_cents) VALUES (?, ?, ?)")
            .bind(sku)
            .bind(sku)
            .bind(price)
            .execute(&mut *tx)
            .await?;
        q!("INSERT INTO hw_stock (sku, on_hand, reserved) VALUES (?, ?, 0)")
            .bind(sku)
            .bind(stock)
            .execute(&mut *tx)
            .await?;
        Ok(())
    })
}

/// Adds a product and its stock (set-up only).
async fn put_product(
    state: web::Data<Arc<State>>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    let sku = body["sku"].as_str().unwrap_or_default().to_string();
    let price = body["price_cents"].as_i64().unwrap_or(0);
    let stock = body["stock"].as_i64().unwrap_or(0);
    let done = add_product(&state, &sku, price, stock).await;
    match done {
        Ok(()) => HttpResponse::Created().json(json!({"sku": sku})),
        Err(e) => HttpResponse::ServiceUnavailable()
            .json(json!({"error": "unavailable", "message": e.to_string()})),
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// One due outbox row.
struct Row_ {
    id: i64,
    event_id: String,
    event_name: String,
    subscriber: String,
    payload: serde_json::Value,
}

/// Applies one batch of due rows in one transaction; how many.
async fn relay_batch(state: &State) -> Result<usize> {
    let ids: Vec<i64> = (0..300).map(|_| state.ids.next()).collect();
    let mut next_id = ids.into_iter();
    with_tx!(&state.db, |tx, q| {
        let rows = q!("SELECT id, event_id, event_name, subscriber, payload FROM hw_outbox WHERE status = 'pending' ORDER BY id LIMIT 100")
            .fetch_all(&mut *tx)
            .await?;
        let rows: Vec<Row_> = rows
            .into_iter()
            .map(|r| Row_ {
                id: r.get(0),
                event_id: r.get(1),
                event_name: r.get(2),
                subscriber: r.get(3),
                payload: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default(),
            })
            .collect();
        let mut delivered = Vec::with_capacity(rows.len());
        for row in &rows {
            let fresh = q!(
                "INSERT INTO hw_inbox (subscriber, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
            )
            .bind(&row.subscriber)
            .bind(&row.event_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            delivered.push(row.id);
            if fresh == 0 {
                continue;
            }
            let order_id = row.payload["order_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let customer = row.payload["customer"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match (row.event_name.as_str(), row.subscriber.as_str()) {
                ("orders.order_placed", "billing") => {
                    let total = row.payload["total_cents"].as_i64().unwrap_or(0);
                    let invoice = Uuid::now_v7().to_string();
                    q!("INSERT INTO hw_invoices (id, order_id, amount_cents) VALUES (?, ?, ?)")
                        .bind(&invoice)
                        .bind(&order_id)
                        .bind(total)
                        .execute(&mut *tx)
                        .await?;
                    q!("INSERT INTO hw_payments (id, invoice_id, amount_cents) VALUES (?, ?, ?)")
                        .bind(Uuid::now_v7().to_string())
                        .bind(&invoice)
                        .bind(total)
                        .execute(&mut *tx)
                        .await?;
                    let event = Uuid::now_v7().to_string();
                    let payload =
                        json!({"order_id": order_id, "customer": customer, "amount_cents": total})
                            .to_string();
                    q!("INSERT INTO hw_outbox (id, event_id, event_name, subscriber, payload, status) VALUES (?, ?, 'billing.payment_captured', 'orders', ?, 'pending'), (?, ?, 'billing.payment_captured', 'notifications', ?, 'pending')")
                        .bind(next_id.next().unwrap_or_default()).bind(&event).bind(&payload)
                        .bind(next_id.next().unwrap_or_default()).bind(&event).bind(&payload)
                        .execute(&mut *tx)
                        .await?;
                }
                ("orders.order_placed", "inventory") => {
                    q!("UPDATE hw_reservations SET state = 'confirmed', expires_at_ms = NULL WHERE id = ? AND state = 'held'")
                        .bind(&order_id)
                        .execute(&mut *tx)
                        .await?;
                }
                (event, "notifications") => {
                    q!("INSERT INTO hw_notifications (id, customer, kind, text) VALUES (?, ?, ?, ?)")
                        .bind(Uuid::now_v7().to_string())
                        .bind(&customer)
                        .bind(event)
                        .bind(format!("{event} for order {order_id}"))
                        .execute(&mut *tx)
                        .await?;
                }
                ("billing.payment_captured", "orders") => {
                    q!("UPDATE hw_orders SET status = 'paid' WHERE id = ? AND status = 'placed'")
                        .bind(&order_id)
                        .execute(&mut *tx)
                        .await?;
                    let payload = json!({"order_id": order_id, "customer": customer}).to_string();
                    q!("INSERT INTO hw_outbox (id, event_id, event_name, subscriber, payload, status) VALUES (?, ?, 'orders.order_paid', 'inventory', ?, 'pending')")
                        .bind(next_id.next().unwrap_or_default())
                        .bind(Uuid::now_v7().to_string())
                        .bind(&payload)
                        .execute(&mut *tx)
                        .await?;
                }
                ("orders.order_paid", "inventory") => {
                    q!("UPDATE hw_reservations SET state = 'sold' WHERE id = ?")
                        .bind(&order_id)
                        .execute(&mut *tx)
                        .await?;
                    let lines = q!("SELECT sku, quantity FROM hw_reservation_lines WHERE reservation_id = ? ORDER BY sku")
                        .bind(&order_id)
                        .fetch_all(&mut *tx)
                        .await?;
                    for line in lines {
                        let sku: String = line.get(0);
                        let quantity: i64 = line.get(1);
                        q!("UPDATE hw_stock SET on_hand = on_hand - ?, reserved = reserved - ? WHERE sku = ?")
                            .bind(quantity)
                            .bind(quantity)
                            .bind(&sku)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                _ => {}
            }
        }
        if !delivered.is_empty() {
            let marks = vec!["?"; delivered.len()].join(", ");
            let sql = format!("UPDATE hw_outbox SET status = 'delivered' WHERE id IN ({marks})");
            let mut update = q!(sql.as_str());
            for id in &delivered {
                update = update.bind(*id);
            }
            update.execute(&mut *tx).await?;
        }
        Ok(rows.len())
    })
}

async fn relay(state: Arc<State>) {
    loop {
        match relay_batch(&state).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => eprintln!("handwritten relay: {e}"),
        }
        tokio::select! {
            _ = state.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn connect(url: &str) -> Result<Db> {
    if url.starts_with("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.pragma("query_only", "ON"))
            .await?;
        for sql in SCHEMA {
            sqlx::query(sqlx::AssertSqlSafe(*sql))
                .execute(&writer)
                .await?;
        }
        Ok(Db::Sqlite { writer, reader })
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        for sql in SCHEMA {
            sqlx::query(sqlx::AssertSqlSafe(*sql))
                .execute(&pool)
                .await?;
        }
        Ok(Db::Postgres(pool))
    }
}

async fn max_outbox_id(db: &Db) -> Result<i64> {
    let sql = "SELECT COALESCE(MAX(id), 0) FROM hw_outbox";
    Ok(match db {
        Db::Sqlite { reader, .. } => sqlx::query(sql).fetch_one(reader).await?.get(0),
        Db::Postgres(pool) => sqlx::query(sql).fetch_one(pool).await?.get(0),
    })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    PLAIN_TRANSACTIONS.get_or_init(|| args.plain_transactions);
    let db = connect(&args.database)
        .await
        .map_err(|e| std::io::Error::other(format!("database: {e}")))?;
    let first = max_outbox_id(&db)
        .await
        .map_err(|e| std::io::Error::other(format!("database: {e}")))?
        + 1;
    let state = Arc::new(State {
        db,
        ids: Ids(std::sync::atomic::AtomicI64::new(first)),
        wake: Notify::new(),
    });
    tokio::spawn(relay(state.clone()));
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/health", web::get().to(health))
            .route("/api/orders", web::post().to(post_order))
            .route("/setup/products", web::post().to(put_product))
    })
    .bind(&args.listen)?;
    println!("handwritten listening on http://{}", args.listen);
    server.run().await
}
