//! The bodies the listing and user services answer with, in seed 004's
//! envelope: written by the services' handlers and read by the public API
//! layer's clients, so both sides share one definition.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::listings::Listing;
use super::users::User;

/// `{"result": true, "listings": [...]}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListingsPage {
    pub result: bool,
    pub listings: Vec<Listing>,
}

/// `{"result": true, "listing": {...}}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListingCreated {
    pub result: bool,
    pub listing: Listing,
}

/// `{"result": true, "users": [...]}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsersPage {
    pub result: bool,
    pub users: Vec<User>,
}

/// `{"result": true, "user": {...}}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserFound {
    pub result: bool,
    pub user: User,
}
