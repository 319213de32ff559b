//! Public HTTP routes of members.

use actix_web::{HttpResponse, web};
use cleave::http::{ApiError, ErrorBody};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, OnConflict};
use serde::{Deserialize, Serialize};

use crate::member::{self, Email, LoanLimit, MemberName};

pub(crate) struct MembersState {
    db: cleave::Database,
}

impl MembersState {
    pub(crate) fn new(context: &crate::Context) -> Self {
        MembersState {
            db: context.db.clone(),
        }
    }
}

/// The body of `POST /api/members`.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewMember {
    name: String,
    email: String,
    /// Most books held at once, 1 to 10; 3 when absent.
    loan_limit: Option<u32>,
}

/// A member, with the loans the library counted from the loans module's events.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MemberBody {
    id: Uuid,
    name: String,
    email: String,
    loan_limit: u32,
    suspended: bool,
    /// Borrowed and not yet returned; follows `loans.book_borrowed` and `loans.book_returned`
    /// shortly after each loan changes.
    active_loans: i64,
    /// Every loan ever borrowed; follows `loans.book_borrowed`.
    loans_total: i64,
    #[schema(value_type = String, format = DateTime)]
    created_at: ChronoDateTimeUtc,
}

impl MemberBody {
    fn from_row(m: member::Model) -> Result<MemberBody, ApiError> {
        Ok(MemberBody {
            id: Uuid::parse_str(&m.id).map_err(|e| ApiError::internal("member id", e))?,
            name: m.name,
            email: m.email,
            loan_limit: u32::try_from(m.loan_limit)
                .map_err(|e| ApiError::internal("loan limit", e))?,
            suspended: m.suspended,
            active_loans: m.active_loans,
            loans_total: m.loans_total,
            created_at: m.created_at,
        })
    }
}

/// `POST /api/members`: 201 with the member; 409 if the e-mail address is taken.
#[utoipa::path(
    post,
    path = "/api/members",
    tag = "members",
    request_body = NewMember,
    responses(
        (status = 201, description = "The member was registered", body = MemberBody),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 409, description = "A member has this e-mail address (`email_taken`)", body = ErrorBody),
        (status = 422, description = "Invalid name, e-mail address or loan limit", body = ErrorBody),
    )
)]
pub(crate) async fn register_member(
    state: web::Data<MembersState>,
    body: web::Json<NewMember>,
) -> Result<HttpResponse, ApiError> {
    let NewMember {
        name,
        email,
        loan_limit,
    } = body.into_inner();
    let name = MemberName::parse(&name)?.into_inner();
    let email = Email::parse(&email)?.into_inner();
    let loan_limit = LoanLimit::parse(loan_limit)?.get();
    let id = Uuid::now_v7();
    let created_at = chrono::Utc::now();
    let row = member::ActiveModel {
        id: Set(id.to_string()),
        name: Set(name.clone()),
        email: Set(email.clone()),
        loan_limit: Set(i64::from(loan_limit)),
        suspended: Set(false),
        active_loans: Set(0),
        loans_total: Set(0),
        created_at: Set(created_at),
    };
    let failed = |e: DbErr| ApiError::internal("cannot store the member", e);
    let tx = state.db.write().await.map_err(failed)?;
    let inserted = member::Entity::insert(row)
        .on_conflict(
            OnConflict::column(member::Column::Email)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await
        .map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "email_taken",
            format!("a member with e-mail address `{email}` is registered"),
        ));
    }
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/members/{id}")))
        .json(MemberBody {
            id,
            name,
            email,
            loan_limit,
            suspended: false,
            active_loans: 0,
            loans_total: 0,
            created_at,
        }))
}

async fn find_member(db: &cleave::Database, id: Uuid) -> Result<member::Model, ApiError> {
    member::Entity::find_by_id(id.to_string())
        .one(db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the member", e))?
        .ok_or_else(|| ApiError::not_found("member_not_found", format!("no member {id}")))
}

/// `GET /api/members/{id}`.
#[utoipa::path(
    get,
    path = "/api/members/{id}",
    tag = "members",
    params(("id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 200, description = "The member and the loans they hold", body = MemberBody),
        (status = 400, description = "Not a UUID (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such member (`member_not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_member(
    state: web::Data<MembersState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let member = find_member(&state.db, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MemberBody::from_row(member)?))
}

/// `POST /api/members/{id}/suspend`: the member may no longer borrow (books they hold can
/// still be returned). Suspending a suspended member changes nothing.
#[utoipa::path(
    post,
    path = "/api/members/{id}/suspend",
    tag = "members",
    params(("id" = Uuid, Path, description = "Member id")),
    responses(
        (status = 200, description = "The member, suspended", body = MemberBody),
        (status = 400, description = "Not a UUID (`invalid_path`)", body = ErrorBody),
        (status = 404, description = "No such member (`member_not_found`)", body = ErrorBody),
    )
)]
pub(crate) async fn suspend_member(
    state: web::Data<MembersState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let failed = |e: DbErr| ApiError::internal("cannot suspend the member", e);
    let tx = state.db.write().await.map_err(failed)?;
    member::Entity::update_many()
        .col_expr(member::Column::Suspended, Expr::value(true))
        .filter(member::Column::Id.eq(id.to_string()))
        .exec(&tx)
        .await
        .map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    let member = find_member(&state.db, id).await?;
    Ok(HttpResponse::Ok().json(MemberBody::from_row(member)?))
}
