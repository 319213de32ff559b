//! Contract of the `catalog` module: products and their prices.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

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

cleave_contract::contract! {
    module: "catalog",
    version: (1, 0),
    requests: {
        GetPrices: "catalog.get_prices" -> Prices, CatalogError, idempotent;
    },
    events: {
    },
}
