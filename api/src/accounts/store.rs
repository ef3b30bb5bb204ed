//! The one writer of the `accounts` table: new accounts, from `POST
//! /accounts`, the command line and the bootstrap admin.

use platform::error::ResultExt as _;
use platform::settings::{BootstrapAdmin, ExposeSecret as _};
use platform::{Clock, Error};
use sea_orm::{ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

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
