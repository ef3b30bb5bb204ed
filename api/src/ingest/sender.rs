//! Who may send feeds and ask after them (`admin` and `feeder`
//! accounts, or anyone when anonymous feeds are on): the extractor of
//! every ingestion and upload route.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use platform::Error;

use crate::AppState;
use crate::accounts::{Caller, Role};

/// Who sends a feed, or asks after one: an account whose role may send
/// feeds (`admin` or `feeder`), or nobody when anonymous feeds are on.
/// Credentials that are present are always checked.
pub struct FeedSender(pub(super) Option<Caller>);

impl FeedSender {
    /// The account id a job records, `None` for an anonymous feed.
    pub fn account_id(&self) -> Option<i64> {
        self.0.as_ref().map(|caller| caller.id)
    }

    /// Whether this sender may see what `sender` sent (an ingest, an
    /// upload): its own, or anything for an admin; anonymous callers see
    /// what was sent anonymously.
    pub fn may_see(&self, sender: Option<i64>) -> bool {
        match &self.0 {
            Some(caller) => caller.role == Role::Admin || sender == Some(caller.id),
            None => sender.is_none(),
        }
    }
}

impl FromRequestParts<AppState> for FeedSender {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        if !parts.headers.contains_key(AUTHORIZATION) && state.settings.ingest.allow_anonymous {
            return Ok(Self(None));
        }
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.role {
            Role::Admin | Role::Feeder => Ok(Self(Some(caller))),
            Role::User => Err(Error::Forbidden(format!(
                "account {} may not send feeds: that needs the role `feeder` or `admin`",
                caller.username
            ))),
        }
    }
}
