//! The member table and the rules for a valid member.
//!
//! Each rule is a small type whose `parse` is the only way to make one; its error is the 422
//! the public API answers, with a code that names the rule.

use cleave::http::ApiError;
use sea_orm::entity::prelude::*;

/// A row of `members_members`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "members_members")]
pub(crate) struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub(crate) id: String,
    pub(crate) name: String,
    #[sea_orm(unique)]
    pub(crate) email: String,
    pub(crate) loan_limit: i64,
    pub(crate) suspended: bool,
    /// Loans borrowed and not yet returned, as counted from the loans module's events.
    pub(crate) active_loans: i64,
    /// Every loan ever borrowed, as counted from the loans module's events.
    pub(crate) loans_total: i64,
    pub(crate) created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub(crate) enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A member's name: 1 to 200 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberName(String);

impl MemberName {
    pub(crate) fn parse(raw: &str) -> Result<MemberName, ApiError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid(
                "invalid_name",
                "a member's name has 1 to 200 characters",
            ));
        }
        Ok(MemberName(name.to_string()))
    }

    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

/// An e-mail address, the member's unique key: `local@domain.tld`, no spaces, at most 254
/// characters, compared in lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Email(String);

impl Email {
    pub(crate) fn parse(raw: &str) -> Result<Email, ApiError> {
        let email = raw.trim().to_lowercase();
        let invalid = |why: &str| {
            ApiError::invalid(
                "invalid_email",
                format!("`{}` is not an e-mail address: {why}", raw.trim()),
            )
        };
        if email.is_empty() || email.len() > 254 {
            return Err(invalid("it must have 1 to 254 characters"));
        }
        if email.chars().any(char::is_whitespace) {
            return Err(invalid("it must not contain spaces"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid("it needs an `@`"));
        };
        if local.is_empty() || domain.contains('@') {
            return Err(invalid("it needs one `@` with a name before it"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
            return Err(invalid("its domain needs a dot, like `example.org`"));
        }
        Ok(Email(email))
    }

    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

/// Most books a member may hold at once: 1 to 10, and 3 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoanLimit(u32);

impl LoanLimit {
    pub(crate) const DEFAULT: u32 = 3;
    pub(crate) const MAX: u32 = 10;

    pub(crate) fn parse(raw: Option<u32>) -> Result<LoanLimit, ApiError> {
        match raw.unwrap_or(Self::DEFAULT) {
            limit @ 1..=Self::MAX => Ok(LoanLimit(limit)),
            other => Err(ApiError::invalid(
                "invalid_loan_limit",
                format!("loan_limit must be 1 to {}, got {other}", Self::MAX),
            )),
        }
    }

    pub(crate) fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(MemberName::parse("  Ada ").unwrap().into_inner(), "Ada");
        assert_eq!(MemberName::parse(" ").unwrap_err().code, "invalid_name");
        assert!(MemberName::parse(&"x".repeat(201)).is_err());
        assert!(MemberName::parse(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn emails_need_a_name_an_at_and_a_dotted_domain() {
        assert_eq!(
            Email::parse(" Ada@Example.ORG ").unwrap().into_inner(),
            "ada@example.org"
        );
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@example",
            "ada@.org",
            "a b@example.org",
            "a@b@example.org",
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code,
                "invalid_email",
                "{bad}"
            );
        }
    }

    #[test]
    fn loan_limits_default_to_three_and_stay_within_ten() {
        assert_eq!(LoanLimit::parse(None).unwrap().get(), 3);
        assert_eq!(LoanLimit::parse(Some(10)).unwrap().get(), 10);
        assert_eq!(
            LoanLimit::parse(Some(0)).unwrap_err().code,
            "invalid_loan_limit"
        );
        assert!(LoanLimit::parse(Some(11)).is_err());
    }
}
