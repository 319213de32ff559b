//! The loan table, a loan's states, and the loan period.

use sea_orm::entity::prelude::*;

/// The member holds the copy.
pub(crate) const BORROWED: &str = "borrowed";
/// The copy came back.
pub(crate) const RETURNED: &str = "returned";

/// A row of `loans_loans`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "loans_loans")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) member_id: String,
    pub(crate) isbn: String,
    pub(crate) title: String,
    pub(crate) status: String,
    pub(crate) due_on: ChronoDate,
    pub(crate) borrowed_at: ChronoDateTimeUtc,
    pub(crate) returned_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The open loans of a member, counted against their limit on every borrow.
pub(crate) async fn open_loans<C: ConnectionTrait>(db: &C, member_id: Uuid) -> Result<u64, DbErr> {
    Entity::find()
        .filter(Column::MemberId.eq(member_id.to_string()))
        .filter(Column::Status.eq(BORROWED))
        .count(db)
        .await
}

/// How long a member may keep a book: 1 to 365 days, 21 unless `[module.loans] loan_days`
/// says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "u32")]
pub(crate) struct LoanPeriod(u32);

impl LoanPeriod {
    pub(crate) const DEFAULT_DAYS: u32 = 21;
    pub(crate) const MAX_DAYS: u32 = 365;

    pub(crate) fn parse(days: u32) -> Result<LoanPeriod, String> {
        if days == 0 || days > Self::MAX_DAYS {
            return Err(format!(
                "loan_days must be 1 to {}, got {days}",
                Self::MAX_DAYS
            ));
        }
        Ok(LoanPeriod(days))
    }

    /// The day a copy borrowed at `borrowed_at` is due back.
    pub(crate) fn due_on(self, borrowed_at: ChronoDateTimeUtc) -> ChronoDate {
        borrowed_at.date_naive() + chrono::Days::new(u64::from(self.0))
    }
}

impl Default for LoanPeriod {
    fn default() -> Self {
        LoanPeriod(Self::DEFAULT_DAYS)
    }
}

impl TryFrom<u32> for LoanPeriod {
    type Error = String;

    fn try_from(days: u32) -> Result<Self, Self::Error> {
        LoanPeriod::parse(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loan_period_is_one_day_to_a_year() {
        assert_eq!(LoanPeriod::default(), LoanPeriod(21));
        assert!(LoanPeriod::parse(1).is_ok());
        assert!(LoanPeriod::parse(365).is_ok());
        assert!(LoanPeriod::parse(0).unwrap_err().contains("1 to 365"));
        assert!(LoanPeriod::parse(366).is_err());
    }

    #[test]
    fn a_copy_is_due_whole_days_after_it_was_borrowed() {
        let borrowed = "2026-12-03T23:59:00Z".parse::<ChronoDateTimeUtc>().unwrap();
        let due = LoanPeriod::parse(21).unwrap().due_on(borrowed);
        assert_eq!(due.to_string(), "2026-12-24");
    }
}
