//! Accounts and logging in (SPEC section 4).
//!
//! - `POST /login` `{"username","password"}` → `{"token","expires_in"}`.
//! - `POST /accounts` (admin) `{"username","password","role"}` → 201.
//! - `GET /me`: the calling account, for a client to check its credentials.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{self, Admin, TOKEN_TTL};
use super::guard::ClientAddress;
use super::model::{Caller, NewPassword, Role, Username};
use crate::AppState;
use crate::web::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(create_account))
        .routes(routes!(me))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    username: String,
    password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Token {
    /// An HS256 JWT, sent back as `Authorization: Bearer <token>`.
    pub token: String,
    /// Seconds until it expires: 300.
    #[schema(example = 300)]
    pub expires_in: u64,
}

/// Trades a username and password for a token that is cheap to check.
#[utoipa::path(
    post,
    path = "/login",
    tag = "accounts",
    request_body = Credentials,
    responses(
        (status = 200, body = Token),
        (status = 400, body = platform::error::ErrorBody),
        (status = 401, body = platform::error::ErrorBody, description = "Wrong username or password"),
        (status = 429, body = platform::error::ErrorBody, description = "Too many failed password checks from this address; see Retry-After"),
        (status = 503, body = platform::error::ErrorBody, description = "Too many password checks at once; see Retry-After"),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    Json(credentials): Json<Credentials>,
) -> platform::Result<axum::Json<Token>> {
    let caller =
        auth::authenticate(&state, client, &credentials.username, credentials.password).await?;
    let token = state.tokens.issue(&caller, state.clock.now())?;
    Ok(axum::Json(Token {
        token,
        expires_in: TOKEN_TTL.as_secs(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAccount {
    /// 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
    username: String,
    /// At least 8 characters.
    password: String,
    /// `admin`, `user` or `feeder` (may send feeds and read its own
    /// ingests). Parsed by the handler, so an unknown role is a 400 naming it.
    #[schema(value_type = Role)]
    role: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

impl From<Caller> for Account {
    fn from(caller: Caller) -> Self {
        Self {
            id: caller.id,
            username: caller.username,
            role: caller.role,
        }
    }
}

/// Creates an account (admins only).
#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    request_body = NewAccount,
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, body = Account),
        (status = 400, body = platform::error::ErrorBody, description = "Bad username, password or role"),
        (status = 401, body = platform::error::ErrorBody),
        (status = 403, body = platform::error::ErrorBody, description = "Not an admin"),
        (status = 409, body = platform::error::ErrorBody, description = "The username is taken"),
    )
)]
pub async fn create_account(
    State(state): State<AppState>,
    _admin: Admin,
    Json(new): Json<NewAccount>,
) -> platform::Result<(StatusCode, axum::Json<Account>)> {
    let username = Username::parse(&new.username).map_err(platform::Error::BadRequest)?;
    let password = NewPassword::parse(&new.password).map_err(platform::Error::BadRequest)?;
    let role = Role::parse(&new.role).map_err(platform::Error::BadRequest)?;
    // Hashing the new password takes a turn like any password check.
    let turn = state.passwords.turn().await?;
    let row =
        super::store::create_account(&state.db, &state.clock, username, password, role).await?;
    drop(turn);
    Ok((StatusCode::CREATED, axum::Json(Caller::from(row).into())))
}

/// The calling account.
#[utoipa::path(
    get,
    path = "/me",
    tag = "accounts",
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = Account),
        (status = 401, body = platform::error::ErrorBody),
    )
)]
pub async fn me(caller: Caller) -> axum::Json<Account> {
    axum::Json(caller.into())
}
