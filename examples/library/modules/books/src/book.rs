//! The books tables and the rules for a valid title.
//!
//! Each rule is a small type whose `parse` is the only way to make one; its error is the 422
//! the public API answers, with a code that names the rule.

use cleave::http::ApiError;

/// `books_titles`: how many copies of a title the library owns, and how many are on the shelf.
pub(crate) mod title {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "books_titles")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) isbn: String,
        pub(crate) title: String,
        pub(crate) copies: i64,
        pub(crate) available: i64,
        pub(crate) created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `books_lendings`: the copy that went out for each loan, and when it came back.
pub(crate) mod lending {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "books_lendings")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub(crate) loan_id: String,
        pub(crate) isbn: String,
        pub(crate) taken_at: ChronoDateTimeUtc,
        pub(crate) returned_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An ISBN-13: 13 digits starting with 978 or 979 whose check digit is right; hyphens and
/// spaces between digits are allowed and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Isbn(String);

impl Isbn {
    pub(crate) fn parse(raw: &str) -> Result<Isbn, ApiError> {
        let invalid = |why: &str| {
            ApiError::invalid(
                "invalid_isbn",
                format!("`{}` is not an ISBN-13: {why}", cleave::http::echo(raw)),
            )
        };
        let mut digits = String::with_capacity(13);
        for c in raw.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                '-' | ' ' => {}
                _ => return Err(invalid("it has characters other than digits and hyphens")),
            }
        }
        if digits.len() != 13 {
            return Err(invalid(&format!("it has {} digits, not 13", digits.len())));
        }
        if !(digits.starts_with("978") || digits.starts_with("979")) {
            return Err(invalid("it must start with 978 or 979"));
        }
        let sum: u32 = digits
            .bytes()
            .enumerate()
            .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 1 } else { 3 })
            .sum();
        if !sum.is_multiple_of(10) {
            return Err(invalid("its check digit is wrong"));
        }
        Ok(Isbn(digits))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

/// A title: 1 to 300 characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Title(String);

impl Title {
    pub(crate) fn parse(raw: &str) -> Result<Title, ApiError> {
        let title = raw.trim();
        if title.is_empty() || title.chars().count() > 300 {
            return Err(ApiError::invalid(
                "invalid_title",
                "a title has 1 to 300 characters",
            ));
        }
        Ok(Title(title.to_string()))
    }

    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

/// How many copies of a title the library owns: 1 to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CopyCount(u32);

impl CopyCount {
    pub(crate) const MAX: u32 = 1000;

    pub(crate) fn parse(raw: u32) -> Result<CopyCount, ApiError> {
        if raw == 0 || raw > Self::MAX {
            return Err(ApiError::invalid(
                "invalid_copies",
                format!("copies must be 1 to {}, got {raw}", Self::MAX),
            ));
        }
        Ok(CopyCount(raw))
    }

    pub(crate) fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isbns_are_thirteen_digits_with_a_check_digit() {
        assert_eq!(
            Isbn::parse("978-1-59327-828-1").unwrap().into_inner(),
            "9781593278281"
        );
        assert_eq!(
            Isbn::parse(" 979 1000000008 ").unwrap().as_str(),
            "9791000000008"
        );
        for (bad, why) in [
            ("978-1-59327-828-2", "check digit"),
            ("978159327828", "12 digits"),
            ("97815932782811", "14 digits"),
            ("9771593278281", "978 or 979"),
            ("978-1-59327-828-X", "digits and hyphens"),
            ("", "0 digits"),
        ] {
            let error = Isbn::parse(bad).unwrap_err();
            assert_eq!(error.code, "invalid_isbn");
            assert!(error.message.contains(why), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn titles_and_copy_counts_are_bounded() {
        assert_eq!(Title::parse(" Dune ").unwrap().into_inner(), "Dune");
        assert_eq!(Title::parse("").unwrap_err().code, "invalid_title");
        assert!(Title::parse(&"x".repeat(301)).is_err());
        assert_eq!(CopyCount::parse(1).unwrap().get(), 1);
        assert_eq!(CopyCount::parse(0).unwrap_err().code, "invalid_copies");
        assert!(CopyCount::parse(1001).is_err());
    }
}
