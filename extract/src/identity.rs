//! Module identity on the wire: who a message comes from, proven, and allowed.
//!
//! Every internal message names its sender module (`cleave-sender`) and carries that module's
//! credential as a bearer token. A process presents, for each module it hosts, the module's own
//! token; a receiver checks the token against the SHA-256 digests it accepts for that module
//! (two at once while a credential is rotated), then checks that the module may send what it
//! sent: a request it declares in its `sends`, an event it publishes itself.
//!
//! A receiver holds digests, not tokens, so it cannot speak as the modules it verifies. Without
//! per-module credentials the shared `internal_token` authenticates any sender (convenient for
//! development, but then any process holding that token can claim to be any module; the
//! authorization checks still apply to the module it claims to be).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The credentials of one process: the tokens of the modules it speaks as, and the digests it
/// accepts from each module.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    shared: Option<String>,
    tokens: BTreeMap<String, String>,
    accept: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets themselves.
        f.debug_struct("Credentials")
            .field("shared", &self.shared.is_some())
            .field("speaks_as", &self.tokens.keys().collect::<Vec<_>>())
            .field("verifies", &self.accept.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a sender was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No credential at all.
    #[error("missing `authorization: Bearer <credential>`")]
    Missing,
    /// The credential does not prove the claimed module.
    #[error("the credential presented does not belong to module `{0}`")]
    Wrong(String),
    /// This process accepts no internal messages (no credentials configured).
    #[error(
        "this process has neither `credentials.<module>.accept` for `{0}` nor an `internal_token`, so it accepts no message from it"
    )]
    NotConfigured(String),
}

/// `sha256:<hex>` of a token: what a receiver stores to accept it.
pub fn digest(token: &str) -> String {
    let hash = Sha256::digest(token.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Compares secrets without an early exit, so timing does not tell how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Credentials {
    /// Credentials with the shared token only (every module's messages use it).
    pub fn shared(token: Option<String>) -> Self {
        Credentials {
            shared: token,
            ..Credentials::default()
        }
    }

    /// Speaks as `module` with `token`.
    pub fn with_token(mut self, module: &str, token: impl Into<String>) -> Self {
        self.tokens.insert(module.to_string(), token.into());
        self
    }

    /// Accepts `module`'s messages when their token has one of `digests` (`sha256:<hex>`).
    pub fn accepting(mut self, module: &str, digests: Vec<String>) -> Self {
        self.accept.insert(module.to_string(), digests);
        self
    }

    /// Whether any message can be sent or accepted at all.
    pub fn is_empty(&self) -> bool {
        self.shared.is_none() && self.tokens.is_empty() && self.accept.is_empty()
    }

    /// The token to present when speaking as `module`: its own, else the shared one.
    pub fn token_for(&self, module: &str) -> Option<&str> {
        self.tokens
            .get(module)
            .or(self.shared.as_ref())
            .map(String::as_str)
    }

    /// Whether `token` proves that the sender is `module`.
    pub fn verify(&self, module: &str, token: Option<&str>) -> Result<(), Refusal> {
        match (self.accept.get(module), &self.shared) {
            (Some(digests), _) => {
                let token = token.ok_or(Refusal::Missing)?;
                let presented = digest(token);
                if digests
                    .iter()
                    .any(|d| constant_time_eq(d.as_bytes(), presented.as_bytes()))
                {
                    Ok(())
                } else {
                    Err(Refusal::Wrong(module.to_string()))
                }
            }
            (None, Some(shared)) => {
                let token = token.ok_or(Refusal::Missing)?;
                if constant_time_eq(token.as_bytes(), shared.as_bytes()) {
                    Ok(())
                } else {
                    Err(Refusal::Wrong(module.to_string()))
                }
            }
            (None, None) => Err(Refusal::NotConfigured(module.to_string())),
        }
    }
}

/// A new random credential and its digest, for `credentials new` and `deploy`: 256 bits from
/// the operating system's cryptographically secure generator, as 64 lowercase hex digits.
///
/// # Panics
///
/// When the operating system has no random source to give (it always has on Linux).
pub fn new_credential() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let digest = digest(&token);
    (token, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_is_proven_by_its_own_token_and_two_digests_allow_a_rotation() {
        let (old, old_digest) = new_credential();
        let (new, new_digest) = new_credential();
        assert_ne!(old, new);
        assert!(old.len() == 64 && old.bytes().all(|b| b.is_ascii_hexdigit()));
        let credentials = Credentials::shared(Some("shared".into()))
            .accepting("orders", vec![old_digest, new_digest.clone()]);
        assert_eq!(credentials.verify("orders", Some(&old)), Ok(()));
        assert_eq!(credentials.verify("orders", Some(&new)), Ok(()));
        assert_eq!(
            credentials.verify("orders", Some("shared")),
            Err(Refusal::Wrong("orders".into())),
            "a module with its own credential is not proven by the shared token"
        );
        assert_eq!(credentials.verify("orders", None), Err(Refusal::Missing));
        // A module without an entry falls back to the shared token.
        assert_eq!(credentials.verify("billing", Some("shared")), Ok(()));
        assert!(credentials.verify("billing", Some(&new)).is_err());
        let retired = Credentials::default().accepting("orders", vec![new_digest]);
        assert!(retired.verify("orders", Some(&old)).is_err());
        assert_eq!(
            Credentials::default().verify("orders", Some("x")),
            Err(Refusal::NotConfigured("orders".into()))
        );
    }

    #[test]
    fn tokens_are_presented_per_module_else_shared() {
        let credentials = Credentials::shared(Some("shared".into())).with_token("orders", "o");
        assert_eq!(credentials.token_for("orders"), Some("o"));
        assert_eq!(credentials.token_for("billing"), Some("shared"));
        assert_eq!(Credentials::default().token_for("billing"), None);
        assert!(digest("x").starts_with("sha256:"));
        assert_eq!(digest("x").len(), "sha256:".len() + 64);
    }
}
