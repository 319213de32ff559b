//! `members.check_borrower`: whether a member may borrow, and up to how many books.

use async_trait::async_trait;
use cleave::{Failure, Handler};
use members_api::{Borrower, CheckBorrower, MembersError};
use sea_orm::entity::prelude::*;

use crate::member;

pub(crate) struct CheckBorrowerHandler {
    db: cleave::Database,
}

impl CheckBorrowerHandler {
    pub(crate) fn new(context: &crate::Context) -> Self {
        CheckBorrowerHandler {
            db: context.db.clone(),
        }
    }
}

#[async_trait]
impl Handler<CheckBorrower> for CheckBorrowerHandler {
    async fn handle(&self, request: CheckBorrower) -> Result<Borrower, Failure<MembersError>> {
        let member_id = request.member_id;
        let Some(member) = member::Entity::find_by_id(member_id.to_string())
            .one(self.db.read())
            .await?
        else {
            return Err(Failure::Domain(MembersError::UnknownMember { member_id }));
        };
        if member.suspended {
            return Err(Failure::Domain(MembersError::Suspended { member_id }));
        }
        Ok(Borrower {
            member_id,
            name: member.name,
            loan_limit: u32::try_from(member.loan_limit)
                .map_err(|e| Failure::Internal(format!("loan limit of {member_id}: {e}")))?,
        })
    }
}
