//! The product table and the rules for a valid product.

use sea_orm::entity::prelude::*;

/// A row of `catalog_products`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_products")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) price_cents: i64,
    pub(crate) created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A stock keeping unit: 1 to 64 characters of letters, digits, `-`, `_` and `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sku(String);

impl Sku {
    pub(crate) fn parse(raw: &str) -> Result<Sku, String> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if raw.is_empty() || raw.len() > 64 {
            return Err(format!(
                "a SKU has 1 to 64 characters, `{}` has {}",
                cleave::http::echo(raw),
                raw.len()
            ));
        }
        if !raw.chars().all(valid_char) {
            return Err(format!(
                "a SKU uses letters, digits, `-`, `_` and `.` only; got `{}`",
                cleave::http::echo(raw)
            ));
        }
        Ok(Sku(raw.to_string()))
    }

    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_rules() {
        assert!(Sku::parse("BOOK-1.v2_x").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("has space").is_err());
        assert!(Sku::parse(&"x".repeat(65)).is_err());
        assert!(Sku::parse(&"x".repeat(64)).is_ok());
    }
}
