//! What the apply task keeps up besides applying: the stuck-job gauge,
//! the spool directory swept of files nothing needs, and expired
//! resumable uploads deleted.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::job::{Applier, POLL_EVERY};
use super::read::BATCH;
use crate::ingest::spool::remove_file;
use crate::ingest::uploads::entity as upload;
use crate::ingest::{Spool, jobs};

/// A spool file no unfinished job needs is deleted once nothing has
/// written to it for this long: an accepted name a crash left without its
/// job, or an upload a crash cut off. A live upload writes at least every
/// `HTTP_BODY_IDLE_TIMEOUT_SECS`, or is cut off.
const ORPHAN_AGE: Duration = Duration::from_secs(600);

/// How often expired uploads are looked for.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// Every [`POLL_EVERY`]: the stuck-job gauge; every [`EXPIRE_EVERY`]:
/// expired uploads; every [`ORPHAN_AGE`]: the spool sweep.
pub async fn upkeep(applier: &Applier, shutdown: &CancellationToken) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep: Option<tokio::time::Instant> = None;
    let mut last_expiry: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match jobs::oldest_pending(&applier.ingestion.db).await {
            Ok(oldest) => {
                let age = oldest.map_or(Duration::ZERO, |at| applier.clock.now().since(at));
                applier
                    .metrics
                    .oldest_pending_seconds
                    .set(age.as_secs_f64());
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the oldest pending feed"),
        }
        if last_expiry.is_none_or(|at| at.elapsed() >= EXPIRE_EVERY) {
            last_expiry = Some(tokio::time::Instant::now());
            let now = applier.clock.now();
            if let Err(e) = crate::ingest::uploads::expire(&applier.ingestion, now).await {
                tracing::warn!(error = %e, "deleting expired uploads failed");
            }
        }
        if last_sweep.is_none_or(|at| at.elapsed() >= ORPHAN_AGE) {
            last_sweep = Some(tokio::time::Instant::now());
            if let Err(e) = sweep_orphans(applier).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cleaning the spool directory failed"
                );
            }
        }
    }
}

/// Deletes spool files that nothing has written to for `ORPHAN_AGE` and
/// that no unfinished job or upload needs: uploads a crash cut off,
/// accepted names whose job a crash kept from being recorded, and
/// resumable uploads' files whose row a crash kept from being inserted.
pub async fn sweep_orphans(applier: &Applier) -> anyhow::Result<()> {
    let dir = applier.ingestion.spool.dir().to_owned();
    let candidates = tokio::task::spawn_blocking(
        move || -> std::io::Result<Vec<(Orphan, std::path::PathBuf)>> {
            let mut old = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                let orphan = match (Spool::job_of(&path), Spool::upload_of(&path)) {
                    (Some((job, receiving)), _) => Orphan::Job { job, receiving },
                    (None, Some(upload)) => Orphan::Upload(upload),
                    (None, None) => continue,
                };
                let age = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| SystemTime::now().duration_since(modified).ok());
                if age.is_some_and(|age| age >= ORPHAN_AGE) {
                    old.push((orphan, path));
                }
            }
            Ok(old)
        },
    )
    .await??;
    let (jobs_files, upload_files): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|(orphan, _)| matches!(orphan, Orphan::Job { .. }));
    for chunk in jobs_files.chunks(BATCH) {
        let ids = chunk.iter().map(|(orphan, _)| orphan.id()).collect();
        let pending: HashSet<Uuid> = jobs::pending_among(&applier.ingestion.db, ids)
            .await?
            .into_iter()
            .collect();
        for (orphan, path) in chunk {
            let receiving = matches!(
                orphan,
                Orphan::Job {
                    receiving: true,
                    ..
                }
            );
            if receiving || !pending.contains(&orphan.id()) {
                tracing::info!(path = %path.display(), "deleting an abandoned spool file");
                remove_file(path);
            }
        }
    }
    for chunk in upload_files.chunks(BATCH) {
        let ids: Vec<Uuid> = chunk.iter().map(|(orphan, _)| orphan.id()).collect();
        let known: HashSet<Uuid> = upload::Entity::find()
            .select_only()
            .column(upload::Column::Id)
            .filter(upload::Column::Id.is_in(ids))
            .into_tuple()
            .all(&applier.ingestion.db)
            .await?
            .into_iter()
            .collect();
        for (orphan, path) in chunk {
            if !known.contains(&orphan.id()) {
                tracing::info!(path = %path.display(), "deleting an upload's file that has no upload");
                remove_file(path);
            }
        }
    }
    Ok(())
}

/// A spool file the sweep may delete.
enum Orphan {
    /// A feed's body: still arriving (`receiving`), or accepted.
    Job { job: Uuid, receiving: bool },
    /// A resumable upload's bytes.
    Upload(Uuid),
}

impl Orphan {
    fn id(&self) -> Uuid {
        match self {
            Self::Job { job, .. } => *job,
            Self::Upload(upload) => *upload,
        }
    }
}
