//! Returning a book: the loan ends and `loans.book_returned` is published in one transaction.
//!
//! Nothing is asked of another module: books puts the copy back on the shelf and members
//! lowers the member's count when the event reaches them, so a return is accepted even while
//! they are down.

use cleave::http::ApiError;
use cleave::{Database, Publisher};
use loans_api::BookReturned;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;

use crate::loan;

pub(crate) struct GiveBack {
    db: Database,
    events: Publisher,
}

impl GiveBack {
    pub(crate) fn new(context: &crate::Context) -> Self {
        GiveBack {
            db: context.db.clone(),
            events: context.events.clone(),
        }
    }

    /// Ends loan `id`; returning a returned loan changes nothing and answers the loan.
    pub(crate) async fn give_back(&self, id: Uuid) -> Result<loan::Model, ApiError> {
        let failed = |e: DbErr| ApiError::internal("cannot return the loan", e);
        let tx = self.db.write().await.map_err(failed)?;
        let Some(mut found) = loan::Entity::find_by_id(id.to_string())
            .one(&tx)
            .await
            .map_err(failed)?
        else {
            return Err(ApiError::not_found(
                "loan_not_found",
                format!("no loan {id}"),
            ));
        };
        let now = chrono::Utc::now();
        let ended = loan::Entity::update_many()
            .col_expr(loan::Column::Status, Expr::value(loan::RETURNED))
            .col_expr(loan::Column::ReturnedAt, Expr::value(now))
            .filter(loan::Column::Id.eq(found.id.as_str()))
            .filter(loan::Column::Status.eq(loan::BORROWED))
            .exec(&tx)
            .await
            .map_err(failed)?
            .rows_affected;
        if ended == 0 {
            // Returned before: the event went out then.
            return Ok(found);
        }
        let member_id = Uuid::parse_str(&found.member_id)
            .map_err(|e| ApiError::internal("member id of a loan", e))?;
        self.events
            .publish(
                &tx,
                &BookReturned {
                    loan_id: id,
                    member_id,
                    isbn: found.isbn.clone(),
                },
            )
            .await
            .map_err(|e| ApiError::internal("cannot publish the return", e))?;
        tx.commit().await.map_err(failed)?;
        found.status = loan::RETURNED.to_string();
        found.returned_at = Some(now);
        Ok(found)
    }
}
