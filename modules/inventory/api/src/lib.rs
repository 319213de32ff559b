//! Contract of the `inventory` module: stock levels and reservations.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

cleave_contract::contract! {
    module: "inventory",
    version: (1, 0),
    requests: {
        ReserveStock: "inventory.reserve_stock" -> Reserved, InventoryError, idempotent;
        ReleaseReservation: "inventory.release_reservation" -> Released, InventoryError, idempotent;
    },
    events: {
    },
}
