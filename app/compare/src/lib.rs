//! The shop's side of the comparison (`cleave-compare`): what an operation is (an order, from
//! `POST /api/orders` until it is paid), which module the faults hit (billing), and how the
//! API shows that each order's effect happened once (one invoice holding one payment).

use async_trait::async_trait;
use cleave_compare::{Answer, Application, Client, Words, Workload};
use serde_json::json;

/// The shop with its built-in placements (`app/placements.toml`).
pub fn application() -> anyhow::Result<Application> {
    Application::new(shop::APP.name(), shop::APP.default_config().placements)
}

/// The simulated payment gateway's latency in the scaling runs, ms.
pub const GATEWAY_LATENCY_MS: u64 = 20;

/// Orders of one unit of a product made for each scope.
#[derive(Debug, Clone, Copy, Default)]
pub struct Orders;

#[async_trait]
impl Workload for Orders {
    fn words(&self) -> Words {
        Words {
            operation: "order".into(),
            operations: "orders".into(),
            completed: "paid".into(),
            start: "`POST /api/orders` (orders asks catalog for prices and inventory for a \
                    reservation; payment follows through billing's events)"
                .into(),
            fault_module: "billing".into(),
            probe: "a receipt (`GET /api/orders/{id}/receipt`)".into(),
            effect: "one invoice holding one payment".into(),
        }
    }

    /// Billing's capture waits on a simulated payment gateway: 20 ms, so that a replica can
    /// capture at most 50 payments a second and more replicas have work to share.
    fn scaling_settings(&self) -> Vec<(String, String)> {
        vec![(
            "module.billing.gateway_latency_ms".into(),
            GATEWAY_LATENCY_MS.to_string(),
        )]
    }

    async fn prepare(&self, client: &Client, scope: &str) -> anyhow::Result<()> {
        let product =
            json!({"sku": scope, "name": format!("Product {scope}"), "price_cents": 1_000});
        match client.post("/api/catalog/products", &product).await {
            (201, _) => {}
            (status, body) => anyhow::bail!("create {scope}: {status} {body}"),
        }
        match client
            .put(
                &format!("/api/inventory/stock/{scope}"),
                &json!({ "quantity": 1_000_000 }),
            )
            .await
        {
            (200, _) => Ok(()),
            (status, body) => anyhow::bail!("stock {scope}: {status} {body}"),
        }
    }

    async fn start(&self, client: &Client, scope: &str, i: usize) -> Result<String, Answer> {
        let order = json!({
            "customer": format!("{}{i}", scope.to_lowercase()),
            "lines": [{"sku": scope, "quantity": 1}],
        });
        match client.post("/api/orders", &order).await {
            (201, body) => body["id"].as_str().map(str::to_string).ok_or((201, body)),
            answer => Err(answer),
        }
    }

    fn start_routes(&self) -> Vec<(&'static str, &'static str)> {
        vec![("POST", "/api/orders")]
    }

    async fn completed(&self, client: &Client, id: &str) -> bool {
        matches!(client.get(&format!("/api/orders/{id}")).await,
            (200, body) if body["status"] == "paid")
    }

    async fn probe(&self, client: &Client, id: &str) -> u16 {
        client.get(&format!("/api/orders/{id}/receipt")).await.0
    }

    async fn effect_once(&self, client: &Client, id: &str) -> anyhow::Result<bool> {
        match client
            .get(&format!("/api/billing/invoices?order_id={id}"))
            .await
        {
            (200, body) => {
                let invoices = body["invoices"].as_array().cloned().unwrap_or_default();
                Ok(invoices.len() == 1
                    && invoices[0]["payments"].as_array().map_or(0, Vec::len) == 1)
            }
            (status, body) => anyhow::bail!("invoices of {id}: {status} {body}"),
        }
    }
}
