//! Public HTTP routes of loans.

use actix_web::{HttpResponse, web};
use cleave::http::{ApiError, ErrorBody};
use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::borrow::{Borrow, Borrowed, NewLoan};
use crate::give_back::GiveBack;
use crate::loan;

pub(crate) struct LoansState {
    db: cleave::Database,
}

impl LoansState {
    pub(crate) fn new(context: &crate::Context) -> Self {
        LoansState {
            db: context.db.clone(),
        }
    }
}

/// A loan.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoanBody {
    id: Uuid,
    member_id: Uuid,
    /// ISBN-13, 13 digits.
    isbn: String,
    title: String,
    /// `borrowed`, then `returned`.
    status: String,
    /// The day the copy is due back.
    #[schema(value_type = String, format = Date)]
    due_on: ChronoDate,
    #[schema(value_type = String, format = DateTime)]
    borrowed_at: ChronoDateTimeUtc,
    #[schema(value_type = Option<String>, format = DateTime)]
    returned_at: Option<ChronoDateTimeUtc>,
}

impl LoanBody {
    fn from_row(l: loan::Model) -> Result<LoanBody, ApiError> {
        let uuid =
            |text: &str| Uuid::parse_str(text).map_err(|e| ApiError::internal("a stored id", e));
        Ok(LoanBody {
            id: uuid(&l.id)?,
            member_id: uuid(&l.member_id)?,
            isbn: l.isbn,
            title: l.title,
            status: l.status,
            due_on: l.due_on,
            borrowed_at: l.borrowed_at,
            returned_at: l.returned_at,
        })
    }
}

/// `POST /api/loans`: 201 with the new loan, or 200 with the loan an earlier request with the
/// same `loan_id` made.
#[utoipa::path(
    post,
    path = "/api/loans",
    tag = "loans",
    request_body = NewLoan,
    responses(
        (status = 201, description = "Borrowed: the member may borrow, a copy left the shelf, `loans.book_borrowed` published", body = LoanBody),
        (status = 200, description = "The loan made before with this `loan_id`", body = LoanBody),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No such member (`member_not_found`) or book (`book_not_found`)", body = ErrorBody),
        (status = 409, description = "Member suspended (`member_suspended`), at their limit (`loan_limit_reached`), no copy on the shelf (`no_copy_available`), or `loan_id` used by another member (`loan_id_taken`)", body = ErrorBody),
        (status = 422, description = "Invalid ISBN (`invalid_isbn`) or body (`invalid_body`)", body = ErrorBody),
        (status = 503, description = "Members or books is unavailable (`unavailable`)", body = ErrorBody),
        (status = 502, description = "A module it asked answered with a message that could not be decoded (`bad_gateway`)", body = ErrorBody),
    )
)]
pub(crate) async fn borrow_book(
    loans: web::Data<Borrow>,
    body: web::Json<NewLoan>,
) -> Result<HttpResponse, ApiError> {
    Ok(match loans.borrow(body.into_inner()).await? {
        Borrowed::New(row) => HttpResponse::Created()
            .insert_header(("Location", format!("/api/loans/{}", row.id)))
            .json(LoanBody::from_row(row)?),
        Borrowed::Before(row) => HttpResponse::Ok().json(LoanBody::from_row(row)?),
    })
}

/// `GET /api/loans/{id}`.
#[utoipa::path(
    get,
    path = "/api/loans/{id}",
    tag = "loans",
    params(("id" = Uuid, Path, description = "Loan id")),
    responses(
        (status = 200, description = "The loan", body = LoanBody),
        (status = 400, description = "Not a UUID (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such loan (`loan_not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_loan(
    state: web::Data<LoansState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let found = loan::Entity::find_by_id(id.to_string())
        .one(state.db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the loan", e))?
        .ok_or_else(|| ApiError::not_found("loan_not_found", format!("no loan {id}")))?;
    Ok(HttpResponse::Ok().json(LoanBody::from_row(found)?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct MemberQuery {
    /// The member whose loans to list.
    member_id: Uuid,
}

/// A member's loans, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoansBody {
    loans: Vec<LoanBody>,
}

/// `GET /api/loans?member_id=…`: the member's loans, open and returned, oldest first.
#[utoipa::path(
    get,
    path = "/api/loans",
    tag = "loans",
    params(MemberQuery),
    responses(
        (status = 200, description = "Oldest first", body = LoansBody),
        (status = 400, description = "Missing or invalid `member_id` (`invalid_query`)", body = ErrorBody),
    )
)]
pub(crate) async fn list_loans(
    state: web::Data<LoansState>,
    query: web::Query<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    let rows = loan::Entity::find()
        .filter(loan::Column::MemberId.eq(query.member_id.to_string()))
        .order_by_asc(loan::Column::BorrowedAt)
        .order_by_asc(loan::Column::Id)
        .all(state.db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read loans", e))?;
    let loans = rows
        .into_iter()
        .map(LoanBody::from_row)
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(LoansBody { loans }))
}

/// `POST /api/loans/{id}/return`: the loan ends; books and members learn of it through
/// `loans.book_returned`. Returning a returned loan changes nothing.
#[utoipa::path(
    post,
    path = "/api/loans/{id}/return",
    tag = "loans",
    params(("id" = Uuid, Path, description = "Loan id")),
    responses(
        (status = 200, description = "The loan, returned", body = LoanBody),
        (status = 400, description = "Not a UUID (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such loan (`loan_not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn return_book(
    desk: web::Data<GiveBack>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let returned = desk.give_back(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(LoanBody::from_row(returned)?))
}
