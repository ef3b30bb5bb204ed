//! `uploads`: resumable feed uploads, one row each (migration 000016).

use platform::Timestamp;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    /// A UUID v7: the upload's URL, its spool file's name, and the id of
    /// the ingest it becomes.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The spool directory holding the bytes.
    pub spool: String,
    /// `Upload-Length`: the whole feed's size.
    pub upload_length: i64,
    /// Bytes received and committed: where the next `PATCH` starts.
    pub upload_offset: i64,
    /// `Upload-Metadata` as the client sent it, echoed on `HEAD`.
    pub metadata: Option<String>,
    /// The account that created it; `None` for an anonymous one.
    pub sender: Option<i64>,
    pub created_at: Timestamp,
    /// Without a byte until then, the upload and its bytes are deleted.
    pub expires_at: Timestamp,
    /// Set once the whole body was accepted as a feed: its ingest.
    pub ingest: Option<Uuid>,
}

impl Model {
    /// `Upload-Length`, in bytes.
    pub fn length(&self) -> u64 {
        u64::try_from(self.upload_length).unwrap_or(0)
    }

    /// The bytes committed.
    pub fn offset(&self) -> u64 {
        u64::try_from(self.upload_offset).unwrap_or(0)
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
