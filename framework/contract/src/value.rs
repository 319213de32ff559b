//! Value types: one input rule per concept, written once for the check, the serde form and the
//! published schema.
//!
//! A concept that several modules accept (a SKU, a customer, a product name) is a type in the
//! owning module's api crate, declared with [`string_value!`](crate::string_value) from a
//! [`StringRule`]: its length in characters and a regular expression. The same rule checks the
//! value (`TryFrom<String>`, `FromStr`, and `Deserialize`, which refuses what the rule refuses),
//! describes it in the contract's JSON Schema, and (through `cleave::http::value_schema`) in the
//! OpenAPI document, so the document says exactly what the server accepts.

use std::borrow::Cow;
use std::sync::OnceLock;

/// The rule of a string value: `min_chars..=max_chars` characters (Unicode scalar values, as
/// JSON Schema's `minLength`/`maxLength` count them), matching `pattern` (a regular expression
/// in the common subset of ECMA-262, Python and Rust: ASCII classes and `\xNN` escapes,
/// anchored with `^…$`).
#[derive(Debug)]
pub struct StringRule {
    /// What the value is, for messages: `a SKU`.
    pub what: &'static str,
    /// What the value may contain, for messages and the schema's description:
    /// `letters, digits, "-", "_" and "." only`.
    pub allows: &'static str,
    /// Fewest characters.
    pub min_chars: usize,
    /// Most characters.
    pub max_chars: usize,
    /// The regular expression every value matches.
    pub pattern: &'static str,
    /// Example for documents.
    pub example: &'static str,
    #[doc(hidden)]
    pub compiled: OnceLock<regex_lite::Regex>,
}

impl StringRule {
    /// A rule; `pattern` must compile (checked on first use and by the crate's tests).
    pub const fn new(
        what: &'static str,
        allows: &'static str,
        min_chars: usize,
        max_chars: usize,
        pattern: &'static str,
        example: &'static str,
    ) -> Self {
        StringRule {
            what,
            allows,
            min_chars,
            max_chars,
            pattern,
            example,
            compiled: OnceLock::new(),
        }
    }

    /// Checks `raw` against the rule; the error says what is wrong, quoting `raw` cut short.
    pub fn check(&self, raw: &str) -> Result<(), InvalidValue> {
        let chars = raw.chars().count();
        if chars < self.min_chars || chars > self.max_chars {
            return Err(InvalidValue {
                message: format!(
                    "{} has {} to {} characters, `{}` has {chars}",
                    self.what,
                    self.min_chars,
                    self.max_chars,
                    quote(raw)
                ),
            });
        }
        let pattern = self.compiled.get_or_init(|| {
            regex_lite::Regex::new(self.pattern).expect("a value rule's pattern compiles")
        });
        if !pattern.is_match(raw) {
            return Err(InvalidValue {
                message: format!(
                    "{} has {}; got `{}`",
                    self.what,
                    self.allows,
                    quote(raw).escape_debug()
                ),
            });
        }
        Ok(())
    }

    /// The description of a value for documents: what it is and what it may contain.
    pub fn description(&self) -> String {
        format!(
            "{}: {} to {} characters, {}",
            capitalized(self.what),
            self.min_chars,
            self.max_chars,
            self.allows
        )
    }

    /// The rule as a JSON Schema (`type`, `minLength`, `maxLength`, `pattern`, `description`,
    /// `examples`).
    pub fn json_schema(&self) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": self.min_chars,
            "maxLength": self.max_chars,
            "pattern": self.pattern,
            "description": self.description(),
            "examples": [self.example],
        })
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A value its rule refuses; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidValue {
    /// What is wrong, for people.
    pub message: String,
}

/// A string value type with a [`StringRule`] (implemented by
/// [`string_value!`](crate::string_value)).
pub trait StringValue: Sized {
    /// The rule every value meets.
    fn rule() -> &'static StringRule;
}

/// Input quoted back in an error message or a log line: at most 100 characters, then `…` and
/// the input's size.
pub fn quote(input: &str) -> Cow<'_, str> {
    const MAX: usize = 100;
    match input.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} bytes)", &input[..cut], input.len()).into(),
        None => input.into(),
    }
}

/// Declares a string value type checked by a [`StringRule`]: `TryFrom<String>`,
/// `TryFrom<&str>`, `FromStr`, `Display`, `AsRef<str>`, serde as a plain string that refuses
/// what the rule refuses, and a JSON Schema stating the rule.
///
/// ```ignore
/// cleave_contract::string_value! {
///     /// A stock keeping unit.
///     pub struct Sku = StringRule::new("a SKU", "letters, digits, …", 1, 64, "^[A-Za-z0-9._-]+$", "BOOK-1");
/// }
/// ```
#[macro_export]
macro_rules! string_value {
    ($(#[$meta:meta])* pub struct $name:ident = $rule:expr;) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The rule every value meets.
            pub fn rule() -> &'static $crate::value::StringRule {
                static RULE: $crate::value::StringRule = $rule;
                &RULE
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as an owned `String`.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl $crate::value::StringValue for $name {
            fn rule() -> &'static $crate::value::StringRule {
                $name::rule()
            }
        }

        impl ::std::convert::TryFrom<String> for $name {
            type Error = $crate::value::InvalidValue;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                <$name as $crate::value::StringValue>::rule().check(&raw)?;
                Ok($name(raw))
            }
        }

        impl ::std::convert::TryFrom<&str> for $name {
            type Error = $crate::value::InvalidValue;
            fn try_from(raw: &str) -> Result<Self, Self::Error> {
                <$name as ::std::convert::TryFrom<String>>::try_from(raw.to_string())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::value::InvalidValue;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                <$name as ::std::convert::TryFrom<&str>>::try_from(raw)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <String as $crate::__serde::Deserialize>::deserialize(d)?;
                <$name as ::std::convert::TryFrom<String>>::try_from(raw)
                    .map_err(<D::Error as $crate::__serde::de::Error>::custom)
            }
        }

        impl $crate::__schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut $crate::__schemars::SchemaGenerator) -> $crate::__schemars::Schema {
                <$name as $crate::value::StringValue>::rule().json_schema()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::string_value! {
        /// A test value.
        pub struct Code = StringRule::new("a code", "letters only", 1, 4, "^[a-z]+$", "ab");
    }

    #[test]
    fn the_rule_checks_length_then_pattern_and_serde_follows_it() {
        assert!(Code::try_from("abcd").is_ok());
        let long = Code::try_from("abcde").unwrap_err().message;
        assert!(long.contains("1 to 4 characters"), "{long}");
        let bad = Code::try_from("a\n").unwrap_err().message;
        assert!(
            bad.contains("letters only") && bad.contains("a\\n"),
            "{bad}"
        );
        assert!(Code::try_from("").is_err());
        let parsed: Code = serde_json::from_str("\"ab\"").unwrap();
        assert_eq!(parsed.as_str(), "ab");
        assert!(serde_json::from_str::<Code>("\"a b\"").is_err());
        assert_eq!(serde_json::to_string(&parsed).unwrap(), "\"ab\"");
        let schema = serde_json::to_value(schemars::schema_for!(Code)).unwrap();
        assert_eq!(schema["pattern"], "^[a-z]+$");
        assert_eq!(schema["maxLength"], 4);
    }

    #[test]
    fn quoted_input_is_bounded() {
        assert_eq!(quote("/api/x"), "/api/x");
        let long = "a".repeat(60_000);
        let quoted = quote(&long);
        assert!(
            quoted.len() < 130 && quoted.ends_with("(60000 bytes)"),
            "{quoted}"
        );
    }
}
