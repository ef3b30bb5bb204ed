//! `ingest_jobs`: accepted product feeds and how far each has been applied.

use platform::Timestamp;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::StringLen;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ingest_jobs")]
pub struct Model {
    /// A UUID v7: also the spool file's name and the dedupe window's holder.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The body's BLAKE3 hash, in hex.
    pub hash: String,
    /// Bytes in the body.
    pub size: i64,
    /// Products in the feed.
    pub items: i64,
    pub status: Status,
    /// The spool directory holding the body; `None` when the body is in `body`.
    pub spool: Option<String>,
    /// A small body, kept in the row instead of a file.
    pub body: Option<Vec<u8>>,
    /// Items applied in committed batches: where a resumed job starts.
    pub processed: i64,
    /// Products the feed added to the catalog.
    pub created: i64,
    /// Items that changed products already there (or earlier in the feed).
    pub updated: i64,
    /// Items whose fields the catalog cannot take.
    pub skipped: i64,
    /// Items that brought a product the fields a feed last applied to it:
    /// not written again.
    pub unchanged: i64,
    /// The first skipped item's reason, or why the job failed.
    pub problem: Option<String>,
    /// While a process applies the feed: when its claim lapses.
    pub lease_until: Option<Timestamp>,
    pub received_at: Timestamp,
    /// The account that sent the feed; `None` for an anonymous one.
    pub sender: Option<i64>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// For a spooled body: bytes up to the end of its last applied item.
    pub applied_bytes: i64,
    /// Times applying the job failed for a reason that may pass; past a
    /// bound, the job fails for good.
    pub attempts: i64,
}

/// Where a job is, as `GET /v1/products/ingests/{id}` reports it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
#[schema(as = IngestStatus)]
pub enum Status {
    /// Accepted, not started.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Being applied, or waiting to be resumed.
    #[sea_orm(string_value = "processing")]
    Processing,
    /// Every item applied (or skipped).
    #[sea_orm(string_value = "done")]
    Done,
    /// Stopped for good; `problem` says why.
    #[sea_orm(string_value = "failed")]
    Failed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
