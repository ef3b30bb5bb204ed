//! Accepting a received feed: claim the dedupe window, give the spooled
//! body its accepted name, record the job. All of it, or none of it
//! (SPEC section 10, "Atomic acceptance").
//!
//! The handler runs [`accept`] as a task of its own and awaits it, so a
//! client that goes away once its last byte is sent (which drops the
//! handler) cannot stop it halfway: a claim whose job is never recorded
//! would lock the body out for the whole window, naming an ingest that
//! does not exist.
//!
//! A claim that is made and then not recorded is given back
//! ([`give_back`], retried in the background while the store is away).
//! When even that cannot be done (the process dies, or the store accepted
//! a claim whose answer timed out), the claim names an ingest with no
//! row. A later attempt with the same body tells the two cases apart:
//!
//! - the holder's job exists and has not failed: 403 `DUPLICATE` naming it;
//! - the holder's job failed: its claim is taken over at once;
//! - the holder has no job: it is an attempt still recording (at most
//!   [`RECORD_DEADLINE`] after its claim, after which the recorder refuses
//!   its row), or a dead one. The later attempt waits, asking again every
//!   `RECHECK_EVERY`, until the job appears (403) or the claim is older
//!   than [`ABANDONED_AFTER`], and then takes it over.
//!
//! So a 403 always names an ingest that exists, and a retry is never
//! refused because of its own earlier attempt. A holder found accepted is
//! remembered for [`CONFIRMED_FOR`] ([`Holders`]), so a body resent in a
//! loop costs no database read each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::dedupe::{Claim, DedupeWindow};
use feed::BodyHash;
use platform::Error;
use sea_orm::{DatabaseConnection, EntityTrait, QuerySelect};
use tokio::time::Instant;
use uuid::Uuid;

use super::entity as ingest_job;
use super::jobs::{self, Status};
use super::receive::{Content, Received};
use crate::AppState;

/// How long after its claim a feed's job may still be recorded.
pub const RECORD_DEADLINE: Duration = Duration::from_secs(5);

/// A claim this old whose holder has no job will never get one. Twice the
/// deadline: a row whose insert started just before it still commits.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(2 * RECORD_DEADLINE.as_secs());

/// How often a feed waiting on an unrecorded holder asks again.
const RECHECK_EVERY: Duration = Duration::from_millis(100);

/// How long a holder found accepted is taken as accepted without asking
/// the database again: a job that fails meanwhile frees its window for
/// this process at once, and for the others after at most this long.
pub const CONFIRMED_FOR: Duration = Duration::from_secs(5);

/// Past this many remembered holders the memory starts again empty.
const HOLDERS_CAPACITY: usize = 100_000;

/// Holders lately found accepted, each until a moment on the monotonic clock.
#[derive(Default)]
pub struct Holders {
    accepted: Mutex<HashMap<Uuid, Instant>>,
}

impl Holders {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Instant>> {
        self.accepted.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_accepted(&self, holder: Uuid) -> bool {
        self.lock()
            .get(&holder)
            .is_some_and(|until| *until > Instant::now())
    }

    fn remember(&self, holder: Uuid) {
        let now = Instant::now();
        let mut accepted = self.lock();
        if accepted.len() >= HOLDERS_CAPACITY {
            accepted.retain(|_, until| *until > now);
            if accepted.len() >= HOLDERS_CAPACITY {
                accepted.clear();
            }
        }
        accepted.insert(holder, now + CONFIRMED_FOR);
    }

    /// Forgets `holder`: its job failed.
    pub fn forget(&self, holder: Uuid) {
        self.lock().remove(&holder);
    }
}

/// Claims the window for the feed `id`, publishes its spooled body and
/// records its job. The caller answers 200 on `Ok`.
pub async fn accept(
    state: AppState,
    id: Uuid,
    received: Received,
    sender: Option<i64>,
) -> Result<(), Error> {
    let hash = received.inspected.hash;
    let holder = id;
    let claimed_at = claim(&state, &hash, holder).await?;
    let deadline = claimed_at + RECORD_DEADLINE;
    let ingestion = &state.ingestion;
    let Received {
        inspected,
        mut content,
    } = received;
    if let Content::Spooled(file) = &mut content
        && let Err(e) = file.publish()
    {
        give_back(&state.dedupe, hash, holder);
        return Err(Error::Internal(anyhow::anyhow!(
            "cannot publish the spool file: {e}"
        )));
    }
    let received = Received { inspected, content };
    let row = jobs::queued_row(
        id,
        &received,
        ingestion.spool.id(),
        sender,
        state.clock.now(),
    );
    if let Err(e) = ingestion.recorder.record(row, deadline).await {
        // Not accepted after all: the same body may come again at once.
        give_back(&state.dedupe, hash, holder);
        return Err(e.into());
    }
    let size = received.inspected.size;
    if let Content::Spooled(file) = received.content {
        file.keep();
    }
    ingestion.recorded(size);
    Ok(())
}

/// Claims `hash` for `holder`: `Ok` once it holds the window, with the
/// moment the claim that won was asked for (it cannot have landed
/// earlier), 403 if an accepted ingest holds it, 503 if the window cannot
/// be asked.
async fn claim(state: &AppState, hash: &BodyHash, holder: Uuid) -> Result<Instant, Error> {
    let window = state.settings.ingest.dedupe_window;
    let counted = |result: &str| {
        state
            .ingestion
            .metrics
            .dedupe_claims
            .with_label_values(&[result])
            .inc();
    };
    let gave_up_at = Instant::now() + ABANDONED_AFTER + RECORD_DEADLINE;
    loop {
        let asked_at = Instant::now();
        let (retry_after, other) = match state.dedupe.claim(hash, holder, window).await {
            Ok(Claim::Claimed) => {
                counted("claimed");
                return Ok(asked_at);
            }
            Ok(Claim::Duplicate {
                retry_after,
                holder,
            }) => (retry_after, holder),
            Err(e) => {
                counted("unavailable");
                // The store may have taken the claim although the answer
                // never came.
                give_back(&state.dedupe, *hash, holder);
                return Err(e.into());
            }
        };
        let holders = &state.ingestion.holders;
        let known = other.filter(|&id| holders.is_accepted(id));
        let holder_now = match known {
            Some(id) => Holder::Accepted(id),
            None => {
                let found = holder_state(&state.db, other).await?;
                if let Holder::Accepted(job) = found {
                    holders.remember(job);
                }
                found
            }
        };
        let take_over = match holder_now {
            Holder::Accepted(job) => {
                counted("duplicate");
                return Err(Error::Duplicate {
                    msg: format!(
                        "the same body was accepted as ingest {job}; it is refused until the dedupe window ends"
                    ),
                    retry_after,
                    holder: Some(job),
                });
            }
            Holder::Failed => true,
            Holder::Unrecorded => window.saturating_sub(retry_after) >= ABANDONED_AFTER,
        };
        // Whatever this process remembers of the refusal is stale.
        state.dedupe.forget(hash);
        // A holder that is no ingest id cannot be taken over: its claim
        // runs out instead.
        if let Some(other) = other.filter(|_| take_over) {
            let asked_at = Instant::now();
            match state.dedupe.take_over(hash, other, holder, window).await {
                Ok(true) => {
                    counted("taken_over");
                    tracing::info!(
                        abandoned = %other,
                        "took over a dedupe claim whose feed was never accepted"
                    );
                    return Ok(asked_at);
                }
                Ok(false) => continue,
                Err(e) => {
                    counted("unavailable");
                    give_back(&state.dedupe, *hash, holder);
                    return Err(e.into());
                }
            }
        }
        if Instant::now() >= gave_up_at {
            return Err(Error::Busy {
                msg: "an earlier copy of this feed is still being accepted; retry shortly"
                    .to_owned(),
                retry_after: RECORD_DEADLINE,
            });
        }
        tokio::time::sleep(RECHECK_EVERY).await;
    }
}

/// What became of the holder of a claim.
enum Holder {
    /// Its job exists and has not failed.
    Accepted(Uuid),
    /// Its job failed: the feed is no longer accepted.
    Failed,
    /// No job (yet): still being recorded, or never will be.
    Unrecorded,
}

async fn holder_state(db: &DatabaseConnection, holder: Option<Uuid>) -> Result<Holder, Error> {
    let Some(id) = holder else {
        return Ok(Holder::Unrecorded);
    };
    let status: Option<Status> = ingest_job::Entity::find_by_id(id)
        .select_only()
        .column(ingest_job::Column::Status)
        .into_tuple()
        .one(db)
        .await?;
    Ok(match status {
        None => Holder::Unrecorded,
        Some(Status::Failed) => Holder::Failed,
        Some(_) => Holder::Accepted(id),
    })
}

/// Gives `holder`'s claim on `hash` back, in the background, trying again
/// for about a minute while the store cannot be reached. Also called when
/// a job fails: a failed feed holds no window.
pub fn give_back(dedupe: &std::sync::Arc<dyn DedupeWindow>, hash: BodyHash, holder: Uuid) {
    let dedupe = dedupe.clone();
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(100);
        for _ in 0..12 {
            match dedupe.release(&hash, holder).await {
                Ok(()) => return,
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
        tracing::warn!(
            %holder,
            "cannot give back a dedupe claim; a resend waits until it is abandoned"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_confirmed_holder_is_remembered_for_a_while_and_forgotten_when_it_fails() {
        let holders = Holders::default();
        let (kept, failed) = (Uuid::now_v7(), Uuid::now_v7());
        holders.remember(kept);
        holders.remember(failed);

        holders.forget(failed);
        let within = holders.is_accepted(kept);
        tokio::time::advance(CONFIRMED_FOR).await;

        assert!(within);
        assert!(!holders.is_accepted(failed), "a failed job's claim is free");
        assert!(!holders.is_accepted(kept), "asked again after a while");
    }
}
