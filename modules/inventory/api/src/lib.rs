//! Contract of the `inventory` module: stock levels and reservations.

#![warn(missing_docs)]

use cleave_contract::{Contract, Request, Version};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The module's name, the prefix of its messages.
pub const MODULE: &str = "inventory";

/// One SKU and a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StockLine {
    /// Stock keeping unit.
    pub sku: String,
    /// Units, at least 1.
    pub quantity: u32,
}

/// Reserves stock for every line, all or nothing.
///
/// Idempotent by `reservation_id`: sending the same reservation again answers as the first
/// time did without reserving twice, so a caller may retry after a lost answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReserveStock {
    /// Chosen by the caller (orders uses the order id).
    pub reservation_id: Uuid,
    /// What to reserve; each SKU at most once.
    pub lines: Vec<StockLine>,
}

/// The reservation exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reserved {
    /// The reservation's id.
    pub reservation_id: Uuid,
}

/// Gives back the stock held by a reservation; releasing an unknown or already released
/// reservation is not an error (idempotent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleaseReservation {
    /// The reservation to release.
    pub reservation_id: Uuid,
}

/// Whether stock was given back by this call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Released {
    /// `false` when there was nothing (left) to release.
    pub released: bool,
}

/// Why inventory refused a request.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, thiserror::Error,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum InventoryError {
    /// Not enough unreserved stock for one of the lines; nothing was reserved.
    #[error("not enough stock for {sku}: requested {requested}, available {available}")]
    InsufficientStock {
        /// The first SKU that is short.
        sku: String,
        /// Units asked for.
        requested: u32,
        /// Units on hand and not reserved.
        available: u32,
    },
    /// The request itself is not acceptable (empty, zero quantity, duplicate SKU).
    #[error("invalid reservation: {reason}")]
    InvalidReservation {
        /// What is wrong.
        reason: String,
    },
}

impl Request for ReserveStock {
    const NAME: &'static str = "inventory.reserve_stock";
    const IDEMPOTENT: bool = true;
    type Response = Reserved;
    type Error = InventoryError;
}

impl Request for ReleaseReservation {
    const NAME: &'static str = "inventory.release_reservation";
    const IDEMPOTENT: bool = true;
    type Response = Released;
    type Error = InventoryError;
}

/// The inventory's public surface.
pub const CONTRACT: Contract = Contract {
    module: MODULE,
    version: Version { major: 1, minor: 0 },
    handles: &[ReserveStock::NAME, ReleaseReservation::NAME],
    publishes: &[],
    subscribes: &[],
};

/// The published contract: JSON Schema of every message, for implementing `inventory` in another
/// language. Written to `docs/contracts/inventory.json` and served on the internal listener.
pub fn json_schema() -> serde_json::Value {
    cleave_contract::schema::document(
        &CONTRACT,
        vec![
            cleave_contract::schema::request::<ReserveStock>(),
            cleave_contract::schema::request::<ReleaseReservation>(),
        ],
        vec![],
    )
}
