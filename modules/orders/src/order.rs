//! The order tables and an order's states.

/// Accepted: priced, stock reserved, `orders.order_placed` published.
pub(crate) const PLACED: &str = "placed";
/// Billing captured the payment.
pub(crate) const PAID: &str = "paid";

/// `orders_orders`.
pub(crate) mod header {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders_orders")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) id: String,
        pub(crate) customer: String,
        pub(crate) status: String,
        pub(crate) total_cents: i64,
        pub(crate) created_at: ChronoDateTimeUtc,
        pub(crate) updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `orders_lines`.
pub(crate) mod line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders_lines")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) order_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) sku: String,
        pub(crate) quantity: i64,
        pub(crate) unit_price_cents: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
