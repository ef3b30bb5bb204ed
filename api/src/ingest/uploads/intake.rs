//! An upload's bytes: its spool file, locked while a `PATCH` writes it,
//! and the feed checker and BLAKE3 hash that every byte goes through as
//! it arrives, so a completed upload is accepted without reading it again.
//!
//! The checker's and the hash's state live in this process's memory
//! ([`Intakes`]) between two `PATCH`es. A `PATCH` that reaches another
//! replica, or this one after a restart, rebuilds them by reading the
//! committed bytes back from the spool once; the database's offset is
//! the truth, and bytes past it (a `PATCH` cut short by a crash) are cut
//! off the file first.

use std::collections::HashMap;
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::body::Bytes;
use feed::{BodyHasher, Scanner};
use futures_util::{FutureExt as _, Stream, StreamExt as _};
use platform::Error;
use uuid::Uuid;

use crate::ingest::receive::{BATCH_BYTES, cut_off, ensure_room, malformed, spool_failed};

/// The checker's and the hash's state after `offset` bytes of an upload.
pub struct Intake {
    pub offset: u64,
    pub scanner: Scanner,
    pub hasher: BodyHasher,
}

impl Intake {
    fn new() -> Self {
        Self {
            offset: 0,
            scanner: Scanner::checking(),
            hasher: BodyHasher::new(),
        }
    }
}

/// Past this many uploads' states held, the oldest are let go (they are
/// rebuilt from the spool when needed).
const HELD_MAX: usize = 1024;

/// Intakes between two `PATCH`es, by upload.
#[derive(Default)]
pub struct Intakes {
    held: Mutex<HashMap<Uuid, Intake>>,
}

impl Intakes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Intake>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state of `upload` if it is the one after `offset` bytes.
    pub fn take(&self, upload: Uuid, offset: u64) -> Option<Intake> {
        self.lock()
            .remove(&upload)
            .filter(|intake| intake.offset == offset)
    }

    pub fn keep(&self, upload: Uuid, intake: Intake) {
        let mut held = self.lock();
        if held.len() >= HELD_MAX {
            // UUIDv7 ids sort by creation: let the oldest uploads go.
            let mut ids: Vec<Uuid> = held.keys().copied().collect();
            ids.sort_unstable();
            for id in ids.into_iter().take(HELD_MAX / 4) {
                held.remove(&id);
            }
        }
        held.insert(upload, intake);
    }

    pub fn forget(&self, upload: Uuid) {
        self.lock().remove(&upload);
    }
}

/// An upload's spool file, locked (an exclusive `flock`, which NFS
/// carries across hosts) until dropped: one `PATCH`, `DELETE` or expiry at
/// a time, on whichever replica.
pub struct Locked {
    pub file: File,
    pub path: PathBuf,
}

/// Opens and locks the file at `path`: 423 if another request holds it,
/// 404 if it is gone.
pub fn lock(path: &Path) -> Result<Locked, Error> {
    let file = match File::options().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound("the upload's bytes are gone".to_owned()));
        }
        Err(e) => return Err(spool_failed(&e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Locked {
            file,
            path: path.to_owned(),
        }),
        Err(TryLockError::WouldBlock) => Err(Error::Locked(
            "another request is writing this upload; retry once it is done".to_owned(),
        )),
        Err(TryLockError::Error(e)) => Err(spool_failed(&e)),
    }
}

/// Makes the file hold exactly `offset` committed bytes and positions it
/// there, and returns the intake after them: `held` if it is that one,
/// else rebuilt by reading the bytes back. 404 if the file holds fewer.
pub fn resume(locked: &mut Locked, offset: u64, held: Option<Intake>) -> Result<Intake, Error> {
    let file = &mut locked.file;
    let length = file.metadata().map_err(|e| spool_failed(&e))?.len();
    if length < offset {
        return Err(Error::NotFound(
            "the upload's bytes were lost; start it again".to_owned(),
        ));
    }
    file.set_len(offset).map_err(|e| spool_failed(&e))?;
    let intake = match held {
        Some(intake) => intake,
        None => {
            let mut intake = Intake::new();
            file.seek(SeekFrom::Start(0))
                .map_err(|e| spool_failed(&e))?;
            let mut buffer = vec![0; 256 * 1024];
            loop {
                let read = file.read(&mut buffer).map_err(|e| spool_failed(&e))?;
                if read == 0 {
                    break;
                }
                let chunk = &buffer[..read];
                // Committed bytes were checked when they arrived.
                intake.scanner.feed(chunk, &mut |_| {}).map_err(|e| {
                    Error::Internal(anyhow::anyhow!("a committed upload no longer checks: {e}"))
                })?;
                intake.hasher.update(chunk);
                intake.offset += read as u64;
            }
            intake
        }
    };
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| spool_failed(&e))?;
    Ok(intake)
}

/// How taking a `PATCH`'s body ended.
pub struct Taken {
    pub locked: Locked,
    pub intake: Intake,
    /// Bytes checked, hashed and written: what the upload's offset moves by.
    pub written: u64,
    /// Why it stopped before the body's end: the body could not be read
    /// (the client went), carried more than the upload's length, or is no
    /// feed (the upload can never complete), or the disk is nearly full.
    pub stopped: Option<Stop>,
}

pub enum Stop {
    /// The client went or stalled: the bytes so far count.
    CutOff(Error),
    /// The bytes are no feed: the upload is over.
    Malformed(Error),
    /// Anything else: the bytes so far count.
    Refused(Error),
}

/// Reads `body` into the locked file, at most `room` bytes, in batches of
/// about [`BATCH_BYTES`] each checked, hashed and written on a blocking
/// thread: a batch is whatever has arrived once the one before it is
/// done, and no thread waits for the client. Chunks that arrived before
/// the body was cut off are written too. Fails only if a blocking task
/// stopped (the runtime shutting down): nothing of this body is kept.
pub async fn take(
    mut body: impl Stream<Item = Result<Bytes, axum::Error>> + Unpin,
    mut locked: Locked,
    mut intake: Intake,
    room: u64,
    min_free_bytes: u64,
) -> Result<Taken, Error> {
    let mut written = 0;
    let mut received = 0;
    loop {
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batch_bytes = 0;
        let mut end: Option<Option<Stop>> = None;
        // Wait for something, then take whatever else has arrived already.
        let mut next = body.next().await;
        loop {
            match next {
                None => end = Some(None),
                Some(Err(e)) => end = Some(Some(Stop::CutOff(cut_off(received, &e)))),
                Some(Ok(chunk)) => {
                    received += chunk.len() as u64;
                    batch_bytes += chunk.len();
                    batch.push(chunk);
                }
            }
            if end.is_some() || batch_bytes >= BATCH_BYTES {
                break;
            }
            match body.next().now_or_never() {
                Some(more) => next = more,
                None => break,
            }
        }
        if received > room {
            let stop = Stop::Refused(Error::PayloadTooLarge(format!(
                "the PATCH carries more than the {room} bytes left of the upload's Upload-Length"
            )));
            return Ok(Taken {
                locked,
                intake,
                written,
                stopped: Some(stop),
            });
        }
        if !batch.is_empty() {
            let worked = tokio::task::spawn_blocking(move || {
                let outcome = write_batch(&mut locked, &mut intake, &batch, min_free_bytes);
                (locked, intake, outcome)
            })
            .await;
            let outcome;
            (locked, intake, outcome) = match worked {
                Ok(worked) => worked,
                Err(e) => {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "writing an upload's bytes stopped: {e}"
                    )));
                }
            };
            match outcome {
                Ok(bytes) => written += bytes,
                Err(stop) => {
                    return Ok(Taken {
                        locked,
                        intake,
                        written,
                        stopped: Some(stop),
                    });
                }
            }
        }
        if let Some(stopped) = end {
            return Ok(Taken {
                locked,
                intake,
                written,
                stopped,
            });
        }
    }
}

/// Checks, hashes and writes one batch; the intake's offset moves by the
/// bytes written.
fn write_batch(
    locked: &mut Locked,
    intake: &mut Intake,
    chunks: &[Bytes],
    min_free_bytes: u64,
) -> Result<u64, Stop> {
    let bytes: u64 = chunks.iter().map(|chunk| chunk.len() as u64).sum();
    let dir = locked.path.parent().unwrap_or(Path::new("."));
    ensure_room(dir, bytes, min_free_bytes).map_err(Stop::Refused)?;
    for chunk in chunks {
        intake
            .scanner
            .feed(chunk, &mut |_| {})
            .map_err(|e| Stop::Malformed(malformed(e)))?;
        intake.hasher.update(chunk);
        locked
            .file
            .write_all(chunk)
            .map_err(|e| Stop::Refused(spool_failed(&e)))?;
        intake.offset += chunk.len() as u64;
    }
    Ok(bytes)
}
