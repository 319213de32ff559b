//! A module's public surface and its version, and the registry of every contract a binary
//! links.

use std::fmt;
use std::sync::OnceLock;

/// The version of a module's contract.
///
/// Sender and receiver must agree on `major`. A `minor` bump may only add: new messages, or
/// optional fields (`Option<T>` with `#[serde(default)]`) that older peers ignore or omit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// Incremented for any change an older peer would misread.
    pub major: u32,
    /// Incremented for additions older peers can ignore.
    pub minor: u32,
}

impl Version {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Version {
        Version { major, minor }
    }

    /// Whether peers at `self` and `other` can exchange messages.
    pub fn compatible_with(&self, other: &Version) -> bool {
        self.major == other.major
    }

    /// Parses `"<major>.<minor>"`.
    ///
    /// Strict, so that one regular expression says what is accepted
    /// ([`VERSION_PART_PATTERN`] for each part): decimal digits without sign or leading zeros,
    /// at most 9 of them.
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.split_once('.')?;
        let part = |digits: &str| {
            let canonical = !digits.is_empty()
                && digits.len() <= 9
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            canonical.then(|| digits.parse().ok()).flatten()
        };
        Some(Version {
            major: part(major)?,
            minor: part(minor)?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What [`Version::parse`] accepts, as a regular expression for one part (major or minor).
pub const VERSION_PART_PATTERN: &str = "(?:0|[1-9][0-9]{0,8})";

/// The events a module subscribes to and the requests it sends.
#[derive(Debug, Clone, Copy)]
struct Declared {
    subscribes: &'static [&'static str],
    sends: &'static [&'static str],
}

/// Where a contract's subscriptions (and sent requests) come from.
enum Subscriptions {
    /// Given in code (test fixtures, benchmarks).
    Listed(Declared),
    /// Read from the module's published contract document (`contract.json` next to its api
    /// crate), which is generated from the module's own declaration. A module subscribes in
    /// its implementation crate, naming the event types; this document is how a binary that
    /// does not link that implementation still knows where the module's events must go.
    Published {
        document: &'static str,
        parsed: OnceLock<Declared>,
    },
}

/// A module's public surface, declared in its `api` crate: what it answers, what it publishes,
/// what it listens to, and the version of all of that.
///
/// Other processes learn from it where to send requests and events when the module runs
/// elsewhere, so it must be complete; the runtime checks it against the module's registrations.
pub struct Contract {
    /// The module's name; the prefix of its message names and tables.
    pub module: &'static str,
    /// The contract's version.
    pub version: Version,
    /// Requests the module answers.
    pub handles: &'static [&'static str],
    /// Events the module publishes.
    pub publishes: &'static [&'static str],
    subscribes: Subscriptions,
}

impl fmt::Debug for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contract")
            .field("module", &self.module)
            .field("version", &self.version)
            .field("handles", &self.handles)
            .field("publishes", &self.publishes)
            .finish_non_exhaustive()
    }
}

impl Contract {
    /// A contract whose subscriptions are listed here (fixtures, benchmarks, hand-made
    /// stand-ins for modules written in other languages).
    pub const fn new(
        module: &'static str,
        version: Version,
        handles: &'static [&'static str],
        publishes: &'static [&'static str],
        subscribes: &'static [&'static str],
    ) -> Contract {
        Contract::sending(module, version, handles, publishes, subscribes, &[])
    }

    /// A contract listed here, whose module also sends `sends` (fixtures and hand-made
    /// stand-ins; a published contract reads them from its document).
    pub const fn sending(
        module: &'static str,
        version: Version,
        handles: &'static [&'static str],
        publishes: &'static [&'static str],
        subscribes: &'static [&'static str],
        sends: &'static [&'static str],
    ) -> Contract {
        Contract {
            module,
            version,
            handles,
            publishes,
            subscribes: Subscriptions::Listed(Declared { subscribes, sends }),
        }
    }

    /// A contract whose subscriptions are those of its published document (what
    /// [`contract!`](crate::contract) declares).
    pub const fn published(
        module: &'static str,
        version: Version,
        handles: &'static [&'static str],
        publishes: &'static [&'static str],
        document: &'static str,
    ) -> Contract {
        Contract {
            module,
            version,
            handles,
            publishes,
            subscribes: Subscriptions::Published {
                document,
                parsed: OnceLock::new(),
            },
        }
    }

    /// Events (of other modules) the module subscribes to.
    ///
    /// # Panics
    ///
    /// When the published document is not a contract document; it is generated, so this means
    /// it was edited by hand or truncated.
    pub fn subscribes(&self) -> &'static [&'static str] {
        self.declared().subscribes
    }

    /// Requests (of other modules) the module sends, as its published document says; a
    /// receiver checks a request's sender against it.
    ///
    /// # Panics
    ///
    /// Like [`Contract::subscribes`].
    pub fn sends(&self) -> &'static [&'static str] {
        self.declared().sends
    }

    fn declared(&self) -> Declared {
        match &self.subscribes {
            Subscriptions::Listed(declared) => *declared,
            Subscriptions::Published { document, parsed } => *parsed.get_or_init(|| {
                declared_in(document).unwrap_or_else(|e| {
                    panic!(
                        "the published contract of module `{}` is unreadable ({e}); regenerate it with the `contracts --write` command of the application",
                        self.module
                    )
                })
            }),
        }
    }

    /// The published document this contract was declared with, if any.
    pub fn published_document(&self) -> Option<&'static str> {
        match &self.subscribes {
            Subscriptions::Listed(_) => None,
            Subscriptions::Published { document, .. } => Some(document),
        }
    }
}

/// The `subscribes` and `sends` lists of a published contract document. An empty document (a
/// module created before its first `contracts --write`) subscribes to and sends nothing; a
/// document without `sends` (older) sends nothing.
fn declared_in(document: &str) -> Result<Declared, String> {
    if document.trim().is_empty() {
        return Ok(Declared {
            subscribes: &[],
            sends: &[],
        });
    }
    let value: serde_json::Value = serde_json::from_str(document).map_err(|e| e.to_string())?;
    let names = |key: &str, required: bool| -> Result<&'static [&'static str], String> {
        let Some(list) = value.get(key) else {
            return if required {
                Err(format!("no `{key}` list"))
            } else {
                Ok(&[])
            };
        };
        let list = list.as_array().ok_or(format!("`{key}` is not a list"))?;
        let mut names = Vec::with_capacity(list.len());
        for item in list {
            let name = item
                .as_str()
                .ok_or(format!("an entry of `{key}` is not a string"))?;
            // Contracts live as long as the process; leaking their few names once is the
            // price of handing out `&'static str` like the rest of the contract.
            names.push(&*Box::leak(name.to_string().into_boxed_str()));
        }
        Ok(Box::leak(names.into_boxed_slice()))
    };
    Ok(Declared {
        subscribes: names("subscribes", true)?,
        sends: names("sends", false)?,
    })
}

/// A contract as an api crate registers it: the contract, and how to build its published
/// document.
#[derive(Debug)]
pub struct ContractRegistration {
    /// The contract.
    pub contract: &'static Contract,
    /// Builds the published document (JSON Schema of every message).
    pub document: fn() -> serde_json::Value,
}

inventory::collect!(ContractRegistration);

/// Every contract linked into this binary (each api crate registers its own), sorted by
/// module name.
pub fn contracts() -> Vec<&'static ContractRegistration> {
    let mut all: Vec<&'static ContractRegistration> = inventory::iter::<ContractRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|r| r.contract.module);
    all.dedup_by_key(|r| r.contract.module);
    all
}

/// The registered contract of `module`.
pub fn contract_of(module: &str) -> Option<&'static ContractRegistration> {
    inventory::iter::<ContractRegistration>
        .into_iter()
        .find(|r| r.contract.module == module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(Version::parse("1.10"), Some(Version::new(1, 10)));
        assert_eq!(Version::parse("0.0"), Some(Version::new(0, 0)));
        for bad in [
            "01.0",
            "1.01",
            "+1.0",
            "1.",
            ".1",
            "1.0.0",
            "1.1234567890",
            "a.b",
            "1 .0",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn versions_agree_on_major_only() {
        let v1_0 = Version::parse("1.0").unwrap();
        let v1_3 = Version::parse("1.3").unwrap();
        let v2_0 = Version::new(2, 0);
        assert!(v1_0.compatible_with(&v1_3));
        assert!(!v1_3.compatible_with(&v2_0));
        assert_eq!(v1_3.to_string(), "1.3");
        assert_eq!(Version::parse("1"), None);
        assert_eq!(Version::parse("x.1"), None);
    }

    static PUBLISHED: Contract = Contract::published(
        "orders",
        Version::new(1, 0),
        &[],
        &["orders.order_placed"],
        r#"{"module": "orders", "subscribes": ["billing.payment_captured"], "sends": ["catalog.get_prices"]}"#,
    );

    static FRESH: Contract = Contract::published("fresh", Version::new(1, 0), &[], &[], "\n");

    #[test]
    fn subscriptions_come_from_the_published_document() {
        assert_eq!(PUBLISHED.subscribes(), ["billing.payment_captured"]);
        assert_eq!(PUBLISHED.sends(), ["catalog.get_prices"]);
        assert!(FRESH.sends().is_empty());
        // Read once, then the same list.
        assert!(std::ptr::eq(PUBLISHED.subscribes(), PUBLISHED.subscribes()));
        assert!(FRESH.subscribes().is_empty());
        let listed = Contract::new("x", Version::new(1, 0), &[], &[], &["y.happened"]);
        assert_eq!(listed.subscribes(), ["y.happened"]);
        assert_eq!(listed.published_document(), None);
    }

    #[test]
    fn an_unreadable_document_is_reported_with_the_module() {
        static BROKEN: Contract =
            Contract::published("broken", Version::new(1, 0), &[], &[], "{not json");
        let panic = std::panic::catch_unwind(|| BROKEN.subscribes()).unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("`broken`"), "{message}");
        assert!(message.contains("contracts --write"), "{message}");
    }
}
