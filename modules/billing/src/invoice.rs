//! The billing tables.

/// The invoice's payment was captured (the simulated provider captures at once, so an invoice
/// is stored already paid).
pub(crate) const PAID: &str = "paid";

/// `billing_invoices`: one per order (the order id is unique).
pub(crate) mod header {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_invoices")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) id: String,
        #[sea_orm(unique)]
        pub(crate) order_id: String,
        pub(crate) customer: String,
        pub(crate) amount_cents: i64,
        pub(crate) status: String,
        pub(crate) created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `billing_payments`.
pub(crate) mod payment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "billing_payments")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) id: String,
        pub(crate) invoice_id: String,
        pub(crate) amount_cents: i64,
        pub(crate) captured_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
