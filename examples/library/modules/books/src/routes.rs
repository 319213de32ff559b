//! Public HTTP routes of books.

use actix_web::{HttpResponse, web};
use cleave::http::{ApiError, ErrorBody};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::OnConflict;
use serde::{Deserialize, Serialize};

use crate::book::{CopyCount, Isbn, Title, title};

pub(crate) struct BooksState {
    db: cleave::Database,
}

impl BooksState {
    pub(crate) fn new(context: &crate::Context) -> Self {
        BooksState {
            db: context.db.clone(),
        }
    }
}

/// The body of `POST /api/books`.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewBook {
    /// ISBN-13, with or without hyphens.
    isbn: String,
    title: String,
    /// Copies the library owns, 1 to 1000.
    copies: u32,
}

/// A title and its copies.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BookBody {
    /// ISBN-13, 13 digits.
    isbn: String,
    title: String,
    copies: i64,
    /// Copies on the shelf: fewer while lent out; a returned copy is back shortly after
    /// `loans.book_returned`.
    available: i64,
}

impl From<title::Model> for BookBody {
    fn from(b: title::Model) -> Self {
        BookBody {
            isbn: b.isbn,
            title: b.title,
            copies: b.copies,
            available: b.available,
        }
    }
}

/// `POST /api/books`: 201 with the book, all its copies on the shelf; 409 if the ISBN exists.
#[utoipa::path(
    post,
    path = "/api/books",
    tag = "books",
    request_body = NewBook,
    responses(
        (status = 201, description = "The book was added", body = BookBody),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 409, description = "A book with this ISBN exists (`book_exists`)", body = ErrorBody),
        (status = 422, description = "Invalid ISBN, title or number of copies", body = ErrorBody),
    )
)]
pub(crate) async fn add_book(
    state: web::Data<BooksState>,
    body: web::Json<NewBook>,
) -> Result<HttpResponse, ApiError> {
    let NewBook {
        isbn,
        title,
        copies,
    } = body.into_inner();
    let isbn = Isbn::parse(&isbn)?.into_inner();
    let title = Title::parse(&title)?.into_inner();
    let copies = i64::from(CopyCount::parse(copies)?.get());
    let row = title::ActiveModel {
        isbn: Set(isbn.clone()),
        title: Set(title.clone()),
        copies: Set(copies),
        available: Set(copies),
        created_at: Set(chrono::Utc::now()),
    };
    let failed = |e: DbErr| ApiError::internal("cannot store the book", e);
    let tx = state.db.write().await.map_err(failed)?;
    let inserted = title::Entity::insert(row)
        .on_conflict(
            OnConflict::column(title::Column::Isbn)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await
        .map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "book_exists",
            format!("a book with ISBN {isbn} exists"),
        ));
    }
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/books/{isbn}")))
        .json(BookBody {
            isbn,
            title,
            copies,
            available: copies,
        }))
}

/// `GET /api/books/{isbn}`.
#[utoipa::path(
    get,
    path = "/api/books/{isbn}",
    tag = "books",
    params(("isbn" = String, Path, description = "ISBN-13, with or without hyphens")),
    responses(
        (status = 200, description = "The book, with the copies on the shelf", body = BookBody),
        (status = 404, description = "No such book (`book_not_found`)", body = ErrorBody),
        (status = 422, description = "Not an ISBN-13 (`invalid_isbn`)", body = ErrorBody),
    )
)]
pub(crate) async fn get_book(
    state: web::Data<BooksState>,
    isbn: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let isbn = Isbn::parse(&isbn)?.into_inner();
    let book = title::Entity::find_by_id(isbn.as_str())
        .one(state.db.read())
        .await
        .map_err(|e| ApiError::internal("cannot read the book", e))?
        .ok_or_else(|| {
            ApiError::not_found("book_not_found", format!("no book with ISBN {isbn}"))
        })?;
    Ok(HttpResponse::Ok().json(BookBody::from(book)))
}
