//! The user service (seed 004), served on the internal listener: the only
//! reader and writer of the `users` table.
//!
//! - `GET /users?page_num=&page_size=`: newest first.
//! - `GET /users?ids=1,2,3`: those users, in one request (Mercato's
//!   addition, so the public API layer fetches a page's users at once).
//! - `GET /users/{id}`; `POST /users` (form: `name`).

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::entity as user;
use super::{User, UserId, UserName};
use crate::AppState;
use crate::marketplace::envelope::{Args, EnvelopeError, Failure};
use crate::marketplace::wire::{UserFound, UsersPage};
use crate::web::extract::Path;
use crate::web::paging::PageRequest;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
}

/// The form `POST /users` takes (documentation only).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UserForm {
    /// Not blank; at most 200 characters.
    name: String,
}

/// A page of users, newest first; or, with `ids`, exactly those users
/// (by id, unknown ids left out, paging ignored).
#[utoipa::path(
    get,
    path = "/users",
    tag = "user service (internal)",
    params(
        ("page_num" = Option<u32>, Query, description = "From 1; default 1"),
        ("page_size" = Option<u32>, Query, description = "1 to 100; default 10"),
        ("ids" = Option<String>, Query, description = "Comma-separated ids, at most 100: a batch lookup"),
    ),
    responses(
        (status = 200, body = UsersPage),
        (status = 400, body = Failure, description = "`errors` is a string, e.g. `invalid page_size`"),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    args: Args,
) -> Result<Json<UsersPage>, EnvelopeError> {
    let query = match args.get("ids") {
        Some(ids) => {
            let ids = parse_ids(ids).map_err(EnvelopeError::BadParameter)?;
            user::Entity::find()
                .filter(user::Column::Id.is_in(ids.into_iter().map(UserId::get)))
                .order_by_asc(user::Column::Id)
        }
        None => {
            let page = PageRequest::parse(args.get("page_num"), args.get("page_size"))
                .map_err(EnvelopeError::BadParameter)?;
            user::Entity::find()
                .order_by_desc(user::Column::CreatedAt)
                .order_by_desc(user::Column::Id)
                .limit(u64::from(page.size()))
                .offset(page.offset())
        }
    };
    let users = query
        .all(&state.db)
        .await?
        .into_iter()
        .map(User::from)
        .collect();
    Ok(Json(UsersPage {
        result: true,
        users,
    }))
}

/// `ids=1,2,3`: distinct positive integers, at most one page's worth.
fn parse_ids(raw: &str) -> Result<BTreeSet<UserId>, String> {
    let ids = raw
        .split(',')
        .map(UserId::parse)
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|_| "invalid ids".to_owned())?;
    if ids.len() > PageRequest::MAX_SIZE as usize {
        return Err(format!("invalid ids. At most {}", PageRequest::MAX_SIZE));
    }
    Ok(ids)
}

/// One user.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "user service (internal)",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = UserFound),
        (status = 400, body = Failure, description = "`errors` is the string `invalid user_id`"),
        (status = 404, body = Failure),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserFound>, EnvelopeError> {
    let id = UserId::parse(&id).map_err(EnvelopeError::BadParameter)?;
    let user = user::Entity::find_by_id(id.get())
        .one(&state.db)
        .await?
        .ok_or_else(|| EnvelopeError::NotFound(format!("user {} not found", id.get())))?;
    Ok(Json(UserFound {
        result: true,
        user: user.into(),
    }))
}

/// Creates a user; `created_at` and `updated_at` are the same microsecond.
#[utoipa::path(
    post,
    path = "/users",
    tag = "user service (internal)",
    request_body(content = UserForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = UserFound),
        (status = 400, body = Failure, description = "`errors` lists the problem with `name`"),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    args: Args,
) -> Result<Json<UserFound>, EnvelopeError> {
    let name = UserName::parse(args.get("name").unwrap_or_default())
        .map_err(|e| EnvelopeError::Invalid(vec![e]))?;
    let now = state.clock.now();
    let row = user::ActiveModel {
        id: ActiveValue::NotSet,
        name: ActiveValue::Set(name.into_inner()),
        created_at: ActiveValue::Set(now),
        updated_at: ActiveValue::Set(now),
    };
    let row = state.new_users.insert(row).await?;
    Ok(Json(UserFound {
        result: true,
        user: row.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_positive_integers() {
        let ids: Vec<i64> = parse_ids("3, 1,3,2")
            .expect("valid")
            .into_iter()
            .map(UserId::get)
            .collect();
        assert_eq!(ids, [1, 2, 3]);
        for bad in ["", "1,,2", "1,x", "0", "-1"] {
            assert_eq!(parse_ids(bad), Err("invalid ids".to_owned()), "{bad}");
        }
        let too_many = (1..=101)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            parse_ids(&too_many),
            Err("invalid ids. At most 100".to_owned())
        );
    }
}
