//! Resumable feed uploads: the tus 1.0 protocol (core, creation,
//! creation-with-upload, termination, expiration) under `/v1/uploads`,
//! so the clients people already use (tus-js-client, Uppy, tuspy, tusd's
//! tools) send feeds that survive a broken connection.
//!
//! An upload is a row in `uploads` ([`entity`]: its length, committed
//! offset, metadata, sender and expiry) and a file `<id>.upload` in the
//! spool directory; so it survives a restart and, with a shared spool,
//! continues on any replica. A `PATCH` locks the file, checks and hashes
//! its bytes as they arrive (`intake`) and commits the new offset. The
//! `PATCH` that brings the last byte runs exactly the acceptance of
//! `POST /v1/products` ([`accept`]): the window, the job
//! (whose id is the upload's), the same answers. Unfinished uploads
//! expire after `UPLOAD_EXPIRY_SECS` without a byte ([`expire`]).
//!
//! # Layout
//!
//! - this file: creating, appending to, completing, ending and expiring uploads;
//! - `intake`: the bytes (the lock, the checker's and hash's state, writing);
//! - `headers`: the protocol's headers and their checks;
//! - `router`: the thin handlers and their documentation.

pub mod entity;
pub mod headers;
mod intake;
pub mod router;

use feed::Inspected;
use platform::{Error, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

pub use self::intake::Intakes;
use self::intake::{Stop, Taken};
use super::receive::{self, Content, Received};
use super::spool::remove_file;
use super::{Ingestion, accept};
use crate::AppState;

/// Where an upload stands after a request.
pub struct Progress {
    pub offset: u64,
    pub expires_at: Timestamp,
    /// The ingest the upload became, once complete.
    pub ingest: Option<Uuid>,
}

impl Progress {
    fn of(upload: &entity::Model) -> Self {
        Self {
            offset: upload.offset(),
            expires_at: upload.expires_at,
            ingest: upload.ingest,
        }
    }
}

/// Creates an upload of `length` bytes for `sender`: its row, and its
/// empty file in the spool.
pub async fn create(
    state: &AppState,
    sender: Option<i64>,
    length: u64,
    metadata: Option<String>,
) -> Result<entity::Model, Error> {
    let ingestion = &state.ingestion;
    let id = Uuid::now_v7();
    let now = state.clock.now();
    let path = ingestion.spool.upload_path_of(id);
    tokio::task::spawn_blocking(move || std::fs::File::create_new(path))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("creating an upload stopped: {e}")))?
        .map_err(|e| receive::spool_failed(&e))?;
    let row = entity::ActiveModel {
        id: ActiveValue::Set(id),
        spool: ActiveValue::Set(ingestion.spool.id().to_owned()),
        upload_length: ActiveValue::Set(i64::try_from(length).unwrap_or(i64::MAX)),
        upload_offset: ActiveValue::Set(0),
        metadata: ActiveValue::Set(metadata),
        sender: ActiveValue::Set(sender),
        created_at: ActiveValue::Set(now),
        expires_at: ActiveValue::Set(now + state.settings.ingest.upload_expiry),
        ingest: ActiveValue::Set(None),
    };
    match platform::db::insert_returning(&ingestion.db, row).await {
        Ok(upload) => Ok(upload),
        Err(e) => {
            remove_file(&ingestion.spool.upload_path_of(id));
            Err(e.into())
        }
    }
}

/// The upload `id`, unless it has expired. Read through the readers'
/// pool: they see every committed write, and leave the one writer to
/// writes.
pub async fn find(state: &AppState, id: Uuid) -> Result<Option<entity::Model>, Error> {
    let now = state.clock.now();
    Ok(entity::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|upload| upload.ingest.is_some() || upload.expires_at > now))
}

/// Appends `body` to `upload` at `offset` (the client's `Upload-Offset`):
/// 409 unless that is the committed offset, 423 while another request
/// writes the upload. The bytes that arrive are committed even if the
/// body is cut off. The last byte completes the upload: it is accepted as
/// a feed (see `complete`). A body that is no feed ends the upload (400).
///
/// Run it in a task of its own: once started, it must reach its commit
/// even if the client goes away.
pub async fn append(
    state: AppState,
    upload: entity::Model,
    offset: u64,
    body: axum::body::Body,
) -> Result<Progress, Error> {
    let ingestion = state.ingestion.clone();
    let id = upload.id;
    if let Some(answer) = settled(&upload, offset) {
        return answer;
    }
    if upload.spool != ingestion.spool.id() {
        return Err(Error::Busy {
            msg: "this upload is kept by a replica with another spool directory; retry".to_owned(),
            retry_after: std::time::Duration::from_secs(1),
        });
    }
    let path = ingestion.spool.upload_path_of(id);
    let locked = blocking(move || intake::lock(&path)).await;
    // Read again under the lock: another request may have moved it on.
    let upload = find(&state, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("upload {id} not found")))?;
    if let Some(answer) = settled(&upload, offset) {
        return answer;
    }
    let mut locked = match locked {
        Ok(locked) => locked,
        Err(Error::NotFound(_)) => {
            // Unfinished, and its bytes are gone: it can never complete.
            discard(&ingestion, id).await;
            return Err(Error::NotFound(format!(
                "upload {id} lost its bytes; start it again"
            )));
        }
        Err(e) => return Err(e),
    };
    let (length, committed) = (upload.length(), upload.offset());
    if offset != committed {
        return Err(Error::Conflict(format!(
            "Upload-Offset {offset} is not the upload's offset, {committed}; ask with HEAD"
        )));
    }
    let held = ingestion.intakes.take(id, offset);
    let resumed = blocking(move || {
        let intake = intake::resume(&mut locked, offset, held);
        intake.map(|intake| (locked, intake))
    })
    .await;
    let (locked, intake) = match resumed {
        Ok(resumed) => resumed,
        Err(e @ Error::NotFound(_)) => {
            discard(&ingestion, id).await;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let taken = intake::take(
        body.into_data_stream(),
        locked,
        intake,
        length - offset,
        state.settings.ingest.spool_min_free_bytes,
    )
    .await?;
    if let Some(Stop::Malformed(e)) = taken.stopped {
        discard(&ingestion, id).await;
        return Err(e);
    }
    let reached = offset + taken.written;
    if reached == length {
        return complete(&state, &upload, taken).await;
    }
    let expires_at = state.clock.now() + state.settings.ingest.upload_expiry;
    if taken.written > 0 {
        let moved = entity::Entity::update_many()
            .col_expr(
                entity::Column::UploadOffset,
                Expr::value(i64::try_from(reached).unwrap_or(i64::MAX)),
            )
            .col_expr(entity::Column::ExpiresAt, Expr::value(expires_at))
            .filter(entity::Column::Id.eq(id))
            .filter(entity::Column::UploadOffset.eq(upload.upload_offset))
            .exec(&ingestion.db)
            .await?;
        if moved.rows_affected != 1 {
            return Err(Error::Conflict(format!(
                "upload {id} moved meanwhile; ask with HEAD"
            )));
        }
    }
    let Taken {
        locked,
        intake,
        stopped,
        ..
    } = taken;
    if intake.offset == reached {
        ingestion.intakes.keep(id, intake);
    }
    drop(locked);
    match stopped {
        Some(Stop::CutOff(e) | Stop::Refused(e)) => Err(e),
        // Ended the upload above.
        Some(Stop::Malformed(e)) => Err(e),
        None => Ok(Progress {
            offset: reached,
            expires_at,
            ingest: None,
        }),
    }
}

/// The answer for a `PATCH` at `offset` to an upload already complete:
/// where it stands, once more, if the client names its end (a retry whose
/// answer was lost); 409 otherwise. `None` while it is unfinished.
fn settled(upload: &entity::Model, offset: u64) -> Option<Result<Progress, Error>> {
    upload.ingest?;
    Some(if offset == upload.length() {
        Ok(Progress::of(upload))
    } else {
        Err(Error::Conflict(format!(
            "upload {} is complete at {} bytes; ask with HEAD",
            upload.id,
            upload.length()
        )))
    })
}

/// The upload's last byte has arrived: the feed is accepted as a `POST
/// /v1/products` is, under the upload's id, and the upload is marked
/// complete. A body that is no feed, or a duplicate, ends the upload
/// (400, 403 `DUPLICATE`). Any other failure (503: Redis away) commits
/// nothing of this `PATCH`: the client sends it again.
async fn complete(
    state: &AppState,
    upload: &entity::Model,
    taken: Taken,
) -> Result<Progress, Error> {
    let ingestion = &state.ingestion;
    let id = upload.id;
    let Taken { locked, intake, .. } = taken;
    let items = match intake.scanner.finish() {
        Ok(items) => items,
        Err(e) => {
            discard(ingestion, id).await;
            return Err(receive::malformed(e));
        }
    };
    let inspected = Inspected {
        hash: intake.hasher.finish(),
        size: upload.length(),
        items,
    };
    // The accepted body is a second name for the upload's file: if
    // accepting fails for a reason that passes, the upload is still whole.
    let (from, to) = (locked.path.clone(), ingestion.spool.receiving_path_of(id));
    blocking(move || {
        remove_file(&to);
        std::fs::hard_link(&from, &to)
            .or_else(|_| std::fs::copy(&from, &to).map(|_| ()))
            .map_err(|e| receive::spool_failed(&e))
    })
    .await?;
    let received = Received {
        inspected,
        content: Content::Spooled(ingestion.spool.file_for(id)),
    };
    let accepted = tokio::spawn(accept::accept(state.clone(), id, received, upload.sender))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("accepting the upload stopped: {e}")))?;
    let accepted = match accepted {
        // Accepted by an earlier attempt whose answer was lost.
        Err(Error::Duplicate {
            holder: Some(holder),
            ..
        }) if holder == id => Ok(()),
        accepted => accepted,
    };
    let label = match &accepted {
        Ok(()) => "accepted",
        Err(Error::Duplicate { .. }) => "duplicate",
        Err(_) => "failed",
    };
    ingestion.metrics.feeds.with_label_values(&[label]).inc();
    match accepted {
        Ok(()) => {}
        Err(e @ (Error::Duplicate { .. } | Error::BadRequest(_))) => {
            discard(ingestion, id).await;
            return Err(e);
        }
        Err(e) => return Err(e),
    }
    let now = state.clock.now();
    let expires_at = now + state.settings.ingest.upload_expiry;
    entity::Entity::update_many()
        .col_expr(
            entity::Column::UploadOffset,
            Expr::value(upload.upload_length),
        )
        .col_expr(entity::Column::Ingest, Expr::value(id))
        .col_expr(entity::Column::ExpiresAt, Expr::value(expires_at))
        .filter(entity::Column::Id.eq(id))
        .exec(&ingestion.db)
        .await?;
    ingestion.intakes.forget(id);
    ingestion.metrics.bytes.inc_by(upload.length());
    remove_file(&locked.path);
    drop(locked);
    Ok(Progress {
        offset: upload.length(),
        expires_at,
        ingest: Some(id),
    })
}

/// Ends `upload` (tus termination): its bytes and row are deleted, 423
/// while a `PATCH` writes it. A completed upload's ingest stays.
pub async fn terminate(state: &AppState, upload: &entity::Model) -> Result<(), Error> {
    let ingestion = &state.ingestion;
    if upload.ingest.is_none() {
        let path = ingestion.spool.upload_path_of(upload.id);
        match blocking(move || intake::lock(&path)).await {
            Ok(_locked) => discard(ingestion, upload.id).await,
            Err(Error::NotFound(_)) => discard(ingestion, upload.id).await,
            Err(e) => return Err(e),
        }
    } else {
        entity::Entity::delete_by_id(upload.id)
            .exec(&ingestion.db)
            .await?;
    }
    Ok(())
}

/// Deletes an upload's file and row (its lock, if held, goes with the file).
async fn discard(ingestion: &Ingestion, id: Uuid) {
    ingestion.intakes.forget(id);
    remove_file(&ingestion.spool.upload_path_of(id));
    if let Err(e) = entity::Entity::delete_by_id(id).exec(&ingestion.db).await {
        tracing::warn!(upload = %id, error = %e, "cannot delete an upload's row; it expires");
    }
}

/// Uploads looked at per [`expire`] round.
const EXPIRE_BATCH: u64 = 1000;

/// Deletes the uploads of this process's spool that expired by `now`:
/// the unfinished ones with their bytes (skipping any a `PATCH` is
/// writing), and the rows kept of completed ones. Returns how many.
pub async fn expire(ingestion: &Ingestion, now: Timestamp) -> Result<u64, Error> {
    let due = entity::Entity::find()
        .filter(entity::Column::ExpiresAt.lte(now))
        .filter(entity::Column::Spool.eq(ingestion.spool.id()))
        .order_by_asc(entity::Column::ExpiresAt)
        .limit(EXPIRE_BATCH)
        .all(&ingestion.db)
        .await?;
    let mut expired = 0;
    for upload in due {
        let id = upload.id;
        let path = ingestion.spool.upload_path_of(id);
        let locked = match blocking(move || intake::lock(&path)).await {
            Ok(locked) => Some(locked),
            Err(Error::NotFound(_)) => None,
            // Being written: not expired after all.
            Err(_) => continue,
        };
        let gone = entity::Entity::delete_many()
            .filter(entity::Column::Id.eq(id))
            .filter(entity::Column::ExpiresAt.lte(now))
            .exec(&ingestion.db)
            .await?;
        if gone.rows_affected == 1 {
            expired += 1;
            ingestion.intakes.forget(id);
            if let Some(locked) = locked {
                remove_file(&locked.path);
            }
            tracing::info!(upload = %id, "an upload expired");
        }
    }
    Ok(expired)
}

/// Runs `work` on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("an upload's file work stopped: {e}")))?
}
