//! Contract of the `catalog` module: products and their prices.

#![warn(missing_docs)]

use cleave_contract::value::StringRule;
use serde::{Deserialize, Serialize};

cleave_contract::string_value! {
    /// A stock keeping unit: 1 to 64 letters, digits, `-`, `_` and `.`. The one SKU rule of
    /// every module that accepts a SKU (catalog's products, inventory's stock, orders' lines).
    pub struct Sku = StringRule::new(
        "a SKU",
        "letters, digits, `-`, `_` and `.` only",
        1,
        64,
        "^[A-Za-z0-9._-]+$",
        "BOOK-1",
    );
}

cleave_contract::string_value! {
    /// A product's display name: 1 to 200 characters, no control characters, not only spaces.
    /// Leading and trailing spaces are dropped when the product is stored.
    pub struct ProductName = StringRule::new(
        "a product name",
        "no control characters and at least one character other than a space",
        1,
        200,
        r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$",
        "The Rust Book",
    );
}

impl ProductName {
    /// The name as stored: without leading and trailing spaces.
    pub fn stored(&self) -> &str {
        self.as_str().trim_matches(' ')
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_rules() {
        assert!(Sku::try_from("BOOK-1.v2_x").is_ok());
        assert!(Sku::try_from("x".repeat(64)).is_ok());
        for bad in ["", "has space", "../x", "%2F", "a\0b", "a/b", "é"] {
            assert!(Sku::try_from(bad).is_err(), "{bad:?}");
        }
        assert!(Sku::try_from("x".repeat(65)).is_err());
    }

    #[test]
    fn name_rules() {
        for good in ["x", " The Rust Book ", "Größe 🦀", &"n".repeat(200)] {
            assert!(ProductName::try_from(good).is_ok(), "{good:?}");
        }
        for bad in ["", " ", "   ", "a\0b", "tab\there", "line\n", "\u{7f}x"] {
            assert!(ProductName::try_from(bad).is_err(), "{bad:?}");
        }
        assert!(ProductName::try_from("n".repeat(201)).is_err());
    }
}
