//! The one writer of the `accounts` table: new accounts, from `POST
//! /accounts`, the command line and the bootstrap admin; and the changes
//! `api accounts …` makes (role, password, disabled).

use platform::error::ResultExt as _;
use platform::settings::{BootstrapAdmin, ExposeSecret as _};
use platform::{Clock, Error};
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait as _, QueryFilter,
    QueryOrder as _,
};

use super::auth::hash_password;
use super::entity as account;
use super::model::{NewPassword, Role, Username};

/// Creates an account; a taken username is a 409.
pub async fn create_account(
    db: &DatabaseConnection,
    clock: &Clock,
    username: Username,
    password: NewPassword,
    role: Role,
) -> Result<account::Model, Error> {
    let password_hash = hash_password(password.as_str().to_owned()).await?;
    let row = account::ActiveModel {
        id: ActiveValue::NotSet,
        username: ActiveValue::Set(username.as_str().to_owned()),
        password_hash: ActiveValue::Set(password_hash),
        role: ActiveValue::Set(role),
        created_at: ActiveValue::Set(clock.now()),
        disabled_at: ActiveValue::Set(None),
    };
    platform::db::insert_returning(db, row)
        .await
        .on_unique_violation(|| format!("account {} already exists", username.as_str()))
}

/// Creates the `ADMIN_USERNAME` account with `ADMIN_PASSWORD` if no account
/// has that name yet. An existing account is left as it is, password and
/// role included: the variables bootstrap a deployment, they do not manage it.
pub async fn ensure_bootstrap_admin(
    db: &DatabaseConnection,
    clock: &Clock,
    admin: &BootstrapAdmin,
) -> anyhow::Result<()> {
    let username =
        Username::parse(&admin.username).map_err(|e| anyhow::anyhow!("ADMIN_USERNAME: {e}"))?;
    let password = NewPassword::parse(admin.password.expose_secret())
        .map_err(|e| anyhow::anyhow!("ADMIN_PASSWORD: {e}"))?;
    let exists = account::Entity::find()
        .filter(account::Column::Username.eq(username.as_str()))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    match create_account(db, clock, username.clone(), password, Role::Admin).await {
        Ok(_) => {
            tracing::info!(
                username = username.as_str(),
                "bootstrap admin account created"
            );
            Ok(())
        }
        // Another replica created it a moment ago.
        Err(Error::Conflict(_)) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("creating the bootstrap admin: {e}")),
    }
}

/// The name of the admin account [`create_first_admin`] makes.
pub const FIRST_ADMIN: &str = "admin";

/// On a deployment with no account at all, creates [`FIRST_ADMIN`] with a
/// random password and returns that password, for the start banner to
/// show once. `None` when any account exists (or another replica created
/// this one a moment ago).
pub async fn create_first_admin(
    db: &DatabaseConnection,
    clock: &Clock,
) -> anyhow::Result<Option<String>> {
    if account::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let password = random_password();
    let username = Username::parse(FIRST_ADMIN).map_err(anyhow::Error::msg)?;
    let checked = NewPassword::parse(&password).map_err(anyhow::Error::msg)?;
    match create_account(db, clock, username, checked, Role::Admin).await {
        Ok(_) => Ok(Some(password)),
        Err(Error::Conflict(_)) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("creating the first admin: {e}")),
    }
}

/// 24 characters from a 56-letter alphabet without look-alikes (over
/// 130 bits), from `Uuid::new_v4`: with uuid's `fast-rng` feature, rand's
/// thread-local generator, a CSPRNG seeded (and reseeded) from the
/// operating system's random source.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|id| id.into_bytes())
        .collect();
    bytes
        .iter()
        .take(24)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Every account, oldest first.
pub async fn list_accounts(db: &DatabaseConnection) -> Result<Vec<account::Model>, Error> {
    Ok(account::Entity::find()
        .order_by_asc(account::Column::Id)
        .all(db)
        .await?)
}

/// One change `api accounts …` makes to an existing account.
#[derive(Debug)]
pub enum Change {
    Role(Role),
    Password(NewPassword),
    /// Disabled (from the clock's now) or enabled again.
    Disabled(bool),
}

/// Applies `change` to the account named `username`; an unknown name is a 404.
pub async fn change_account(
    db: &DatabaseConnection,
    clock: &Clock,
    username: &Username,
    change: Change,
) -> Result<account::Model, Error> {
    let mut row = account::ActiveModel {
        id: ActiveValue::NotSet,
        ..Default::default()
    };
    match change {
        Change::Role(role) => row.role = ActiveValue::Set(role),
        Change::Password(password) => {
            row.password_hash =
                ActiveValue::Set(hash_password(password.as_str().to_owned()).await?);
        }
        Change::Disabled(true) => row.disabled_at = ActiveValue::Set(Some(clock.now())),
        Change::Disabled(false) => row.disabled_at = ActiveValue::Set(None),
    }
    let updated = account::Entity::update_many()
        .set(row)
        .filter(account::Column::Username.eq(username.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(Error::NotFound(format!("no account {}", username.as_str())));
    }
    account::Entity::find()
        .filter(account::Column::Username.eq(username.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no account {}", username.as_str())))
}
