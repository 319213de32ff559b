//! Contract of the `catalog` module: products and their prices.

#![warn(missing_docs)]

use cleave_contract::{Contract, Request, Version};
use serde::{Deserialize, Serialize};

/// The module's name, the prefix of its messages.
pub const MODULE: &str = "catalog";

/// Looks up the current name and price of each SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GetPrices {
    /// The SKUs to price; duplicates are answered once.
    pub skus: Vec<String>,
}

/// Name and unit price of one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PricedProduct {
    /// Stock keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Unit price in cents.
    pub price_cents: i64,
}

/// Prices of every requested SKU, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Prices {
    /// One entry per distinct requested SKU.
    pub products: Vec<PricedProduct>,
}

/// Why the catalog refused a request.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, thiserror::Error,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CatalogError {
    /// Some SKUs are not in the catalog.
    #[error("unknown SKUs: {}", skus.join(", "))]
    UnknownSkus {
        /// The SKUs that are not in the catalog.
        skus: Vec<String>,
    },
}

impl Request for GetPrices {
    const NAME: &'static str = "catalog.get_prices";
    const IDEMPOTENT: bool = true;
    type Response = Prices;
    type Error = CatalogError;
}

/// The catalog's public surface.
pub const CONTRACT: Contract = Contract {
    module: MODULE,
    version: Version { major: 1, minor: 0 },
    handles: &[GetPrices::NAME],
    publishes: &[],
    subscribes: &[],
};

/// The published contract: JSON Schema of every message, for implementing `catalog` in another
/// language. Written to `docs/contracts/catalog.json` and served on the internal listener.
pub fn json_schema() -> serde_json::Value {
    cleave_contract::schema::document(
        &CONTRACT,
        vec![cleave_contract::schema::request::<GetPrices>()],
        vec![],
    )
}
