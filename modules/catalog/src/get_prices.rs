//! `catalog.get_prices`: the current price of each requested SKU, all or nothing.

use async_trait::async_trait;
use catalog_api::{CatalogError, GetPrices, PricedProduct, Prices};
use cleave::{Failure, Handler};
use sea_orm::entity::prelude::*;

use crate::product;

pub(crate) struct GetPricesHandler {
    db: cleave::Database,
}

impl GetPricesHandler {
    pub(crate) fn new(context: &crate::Context) -> Self {
        GetPricesHandler {
            db: context.db.clone(),
        }
    }
}

#[async_trait]
impl Handler<GetPrices> for GetPricesHandler {
    async fn handle(&self, request: GetPrices) -> Result<Prices, Failure<CatalogError>> {
        let mut wanted: Vec<String> = Vec::with_capacity(request.skus.len());
        for sku in request.skus {
            if !wanted.contains(&sku) {
                wanted.push(sku);
            }
        }
        let found = product::Entity::find()
            .filter(product::Column::Sku.is_in(wanted.clone()))
            .all(self.db.read())
            .await?;
        let mut products = Vec::with_capacity(wanted.len());
        let mut unknown = Vec::new();
        for sku in wanted {
            match found.iter().find(|p| p.sku == sku) {
                Some(p) => products.push(PricedProduct {
                    sku,
                    name: p.name.clone(),
                    price_cents: p.price_cents,
                }),
                None => unknown.push(sku),
            }
        }
        if !unknown.is_empty() {
            return Err(Failure::Domain(CatalogError::UnknownSkus { skus: unknown }));
        }
        Ok(Prices { products })
    }
}
