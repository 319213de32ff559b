//! `Idempotency-Key`: a client that sends a command again after a lost answer gets the first
//! answer and no second effect; the same key on another request is refused.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::{Mode, TestShop, spawn_app};

async fn post_keyed(
    shop: &TestShop,
    path: &str,
    key: &str,
    body: &Value,
) -> (u16, HeaderMap, Value) {
    let r = shop
        .client
        .post(shop.url(path))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_order_with_the_same_key_is_placed_once() {
    let shop = spawn_app(Mode::InProcess).await;
    shop.stock_product("LAMP", 2500, 10).await;
    let order = json!({"customer": "kim", "lines": [{"sku": "LAMP", "quantity": 2}]});

    let (status, headers, first) = post_keyed(&shop, "/api/orders", "order-kim-1", &order).await;
    assert_eq!(status, 201, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, headers, again) = post_keyed(&shop, "/api/orders", "order-kim-1", &order).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again, first, "the first answer, again");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(
        headers["location"],
        format!("/api/orders/{}", first["id"].as_str().unwrap())
    );

    let id = first["id"].as_str().unwrap();
    shop.wait_paid(id).await;
    assert_eq!(shop.invoices(id).await.len(), 1);
    // One order's worth of stock left the shelf, not two.
    shop.wait_stock("LAMP", 8, 0).await;

    // The same key for another request is a client error; nothing is placed.
    let other = json!({"customer": "kim", "lines": [{"sku": "LAMP", "quantity": 1}]});
    let (status, _, refused) = post_keyed(&shop, "/api/orders", "order-kim-1", &other).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"], "idempotency_key_reused");
    shop.wait_stock("LAMP", 8, 0).await;

    // A malformed key is refused before anything runs.
    let (status, _, bad) = post_keyed(&shop, "/api/orders", "has space", &order).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"], "invalid_idempotency_key");

    // Refusals are not remembered: the key of a refused order can be used once it can pass.
    let too_many = json!({"customer": "kim", "lines": [{"sku": "LAMP", "quantity": 50}]});
    let (status, _, _) = post_keyed(&shop, "/api/orders", "order-kim-2", &too_many).await;
    assert_eq!(status, 409);
    let (status, headers, _) = post_keyed(&shop, "/api/orders", "order-kim-2", &too_many).await;
    assert_eq!(status, 409);
    assert!(headers.get("idempotent-replayed").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_product_creation_answers_as_the_first_one() {
    let shop = spawn_app(Mode::InProcess).await;
    let product = json!({"sku": "VASE", "name": "A vase", "price_cents": 1500});
    let (status, _, first) = post_keyed(&shop, "/api/catalog/products", "vase-1", &product).await;
    assert_eq!(status, 201, "{first}");
    let (status, headers, again) =
        post_keyed(&shop, "/api/catalog/products", "vase-1", &product).await;
    assert_eq!((status, &again), (201, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    // Without a key the same request is what it always was: the SKU exists.
    let (status, body) = shop.post("/api/catalog/products", product).await;
    assert_eq!(status, 409, "{body}");
}
