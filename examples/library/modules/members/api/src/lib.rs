//! Contract of the library's `members` module: who may borrow, and how many books at once.

#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Asks whether a member may borrow, and how many loans they may hold at once.
///
/// A read: sending it twice answers twice the same (idempotent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckBorrower {
    /// The member who wants to borrow.
    pub member_id: Uuid,
}

/// The member may borrow, up to `loan_limit` books at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Borrower {
    /// The member.
    pub member_id: Uuid,
    /// The member's name, for the loan's records.
    pub name: String,
    /// Most books the member may hold at once; the loans module counts the open ones.
    pub loan_limit: u32,
}

/// Why members refused a request.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, thiserror::Error,
)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum MembersError {
    /// No member has this id.
    #[error("no member {member_id}")]
    UnknownMember {
        /// The id asked about.
        member_id: Uuid,
    },
    /// The member exists but is suspended and may not borrow.
    #[error("member {member_id} is suspended")]
    Suspended {
        /// The suspended member.
        member_id: Uuid,
    },
}

cleave_contract::contract! {
    module: "members",
    version: (1, 0),
    requests: {
        CheckBorrower: "members.check_borrower" -> Borrower, MembersError, idempotent;
    },
    events: {
    },
}
