//! The inventory tables.

/// `inventory_stock`: units on hand and units held by reservations, per SKU.
pub(crate) mod level {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inventory_stock")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) sku: String,
        pub(crate) on_hand: i64,
        pub(crate) reserved: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A reservation waiting for its order to be stored; it lapses at `expires_at_ms`.
pub(crate) const HELD: &str = "held";
/// A reservation whose order is stored; it holds its stock until the order is paid.
pub(crate) const CONFIRMED: &str = "confirmed";
/// A reservation whose order is paid: its units left `on_hand`.
pub(crate) const SOLD: &str = "sold";

/// `inventory_reservations`: one row per reservation id.
pub(crate) mod reservation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inventory_reservations")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) id: String,
        pub(crate) created_at: ChronoDateTimeUtc,
        /// `held`, `confirmed` or `sold`.
        pub(crate) state: String,
        /// When a held reservation lapses, ms since the epoch; none once confirmed.
        pub(crate) expires_at_ms: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `inventory_reservation_lines`: what a reservation holds.
pub(crate) mod reservation_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inventory_reservation_lines")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) reservation_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) sku: String,
        pub(crate) quantity: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
