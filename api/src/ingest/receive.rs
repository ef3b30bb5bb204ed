//! Receiving a feed body: one pass that hashes, checks and spools it.
//!
//! The async side only moves chunks: it reads them off the connection and
//! hands them (reference-counted buffers, not copies) in batches of about
//! [`BATCH_BYTES`] to two blocking tasks working side by side: one runs
//! the feed checker, the other the hash and the spool file. So the CPU
//! work never holds up the runtime's other requests; at most two batches
//! are in memory whatever the body's size, and a slow disk or checker
//! slows the upload down instead of filling memory. A thread is held only
//! while a batch is worked on, never while the client is slow to send.
//!
//! Bodies up to [`INLINE_MAX`] bytes never touch the disk: they are
//! checked in place and kept in the job's row.

use std::io::Write;
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use feed::{BodyHash, BodyHasher, FeedError, Inspected, Inspection, Scanner};
use futures_util::{FutureExt as _, Stream, StreamExt as _};
use platform::Error;

use super::spool::{Spool, SpoolFile};

/// Bodies up to this size are kept in memory and in the job's row.
pub const INLINE_MAX: usize = 64 * 1024;

/// Bytes read off the connection before they are handed to the blocking
/// pool together: enough that the hand-over costs little beside the work,
/// small enough that a batch holds a thread for well under a millisecond.
pub const BATCH_BYTES: usize = 512 * 1024;

/// A complete, valid body.
pub struct Received {
    pub inspected: Inspected,
    pub content: Content,
}

/// Where a received body is.
pub enum Content {
    Inline(Vec<u8>),
    Spooled(SpoolFile),
}

/// What a body may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `INGEST_MAX_BYTES`: 413 beyond.
    pub max_bytes: u64,
    /// `INGEST_SPOOL_MIN_FREE_BYTES`: 507 when spooling would leave less
    /// free on the spool's filesystem.
    pub min_free_bytes: u64,
}

/// A request body as [`receive`] reads it: failing to read it (the client
/// went, or stalled past the idle timeout) is a 400 naming how many bytes
/// had arrived.
pub fn plain(body: Body) -> impl Stream<Item = Result<Bytes, Error>> + Unpin {
    let mut received = 0;
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| cut_off(received, &e))?;
        received += chunk.len() as u64;
        Ok(chunk)
    })
}

/// Reads `body` (the feed's bytes, decoded if it was sent compressed: see
/// [`plain`] and `encoding`) to its end. Fails with 400 for a malformed
/// feed (naming the first problem and its byte offset) or a body that
/// cannot be read, 413 past the size limit, and 507 when the spool's disk
/// is nearly full; a spool file is deleted on every failure. `spool_to`
/// names the file a body too large to keep in memory goes to; it is
/// called only for such a body.
pub async fn receive(
    mut stream: impl Stream<Item = Result<Bytes, Error>> + Unpin,
    limits: Limits,
    spool_to: impl FnOnce() -> SpoolFile,
) -> Result<Received, Error> {
    let max_bytes = limits.max_bytes;
    let mut buffer: Vec<u8> = Vec::new();
    let first_spooled = loop {
        match stream.next().await {
            None => {
                let mut inspection = Inspection::new();
                inspection.update(&buffer).map_err(malformed)?;
                let inspected = inspection.finish().map_err(malformed)?;
                return Ok(Received {
                    inspected,
                    content: Content::Inline(buffer),
                });
            }
            Some(chunk) => {
                let chunk = chunk?;
                check_size(buffer.len() as u64 + chunk.len() as u64, max_bytes)?;
                if buffer.len() + chunk.len() > INLINE_MAX {
                    buffer.extend_from_slice(&chunk);
                    break Bytes::from(buffer);
                }
                buffer.extend_from_slice(&chunk);
            }
        }
    };

    // From here on, the file goes again unless the feed is accepted.
    let spool_to = spool_to();
    let mut size = first_spooled.len() as u64;
    let mut batch = vec![first_spooled];
    let mut pipeline = Pipeline::new(spool_to.path().to_owned(), limits.min_free_bytes);
    let streamed = async {
        loop {
            let mut batch_bytes: usize = batch.iter().map(Bytes::len).sum();
            let mut ended = false;
            // Take whatever else has arrived already, up to a batch.
            while batch_bytes < BATCH_BYTES {
                match stream.next().now_or_never() {
                    None => break,
                    Some(None) => {
                        ended = true;
                        break;
                    }
                    Some(Some(chunk)) => {
                        let chunk = counted(chunk, &mut size, max_bytes)?;
                        batch_bytes += chunk.len();
                        batch.push(chunk);
                    }
                }
            }
            pipeline.start(std::mem::take(&mut batch)).await?;
            if ended {
                return Ok::<(), Error>(());
            }
            // While that batch is checked and written, wait for more.
            match stream.next().await {
                None => return Ok(()),
                Some(chunk) => batch.push(counted(chunk, &mut size, max_bytes)?),
            }
        }
    }
    .await;
    // Whatever happened, the batch in hand is finished before the file
    // can be deleted (a write may still be under way).
    let finished = pipeline.finish().await;
    streamed?;
    let (items, hash) = finished?;
    Ok(Received {
        inspected: Inspected { hash, size, items },
        content: Content::Spooled(spool_to),
    })
}

/// The checker's and the writer's state, moving through the blocking pool
/// one batch at a time: each batch runs as two blocking tasks side by side
/// (one checks, one hashes and writes), and the next batch is read off the
/// connection meanwhile. No thread is held between batches, so a client
/// that trickles its body ties up no thread while it waits, whatever their
/// number (SPEC section 10, "Slow clients").
struct Pipeline {
    idle: Option<(Scanner, Writer)>,
    running: Option<Running>,
}

type Running = (
    tokio::task::JoinHandle<Result<Scanner, Error>>,
    tokio::task::JoinHandle<Result<Writer, Error>>,
);

/// The spool file (created with the first batch) and the body's hash.
struct Writer {
    path: PathBuf,
    file: Option<std::fs::File>,
    hasher: BodyHasher,
    /// Free bytes the spool's filesystem must keep.
    min_free_bytes: u64,
}

impl Pipeline {
    fn new(path: PathBuf, min_free_bytes: u64) -> Self {
        Self {
            idle: Some((
                Scanner::checking(),
                Writer {
                    path,
                    file: None,
                    hasher: BodyHasher::new(),
                    min_free_bytes,
                },
            )),
            running: None,
        }
    }

    /// Waits for the batch before (the states go through batches in
    /// order), then starts `batch`. Fails with the earlier batch's problem.
    async fn start(&mut self, batch: Vec<Bytes>) -> Result<(), Error> {
        let (mut scanner, mut writer) = self.wait().await?;
        let to_write = batch.clone();
        self.running = Some((
            tokio::task::spawn_blocking(move || {
                for chunk in &batch {
                    scanner.feed(chunk, &mut |_| {}).map_err(malformed)?;
                }
                Ok(scanner)
            }),
            tokio::task::spawn_blocking(move || {
                let file = match &mut writer.file {
                    Some(file) => file,
                    None => writer
                        .file
                        .insert(std::fs::File::create(&writer.path).map_err(|e| spool_failed(&e))?),
                };
                let bytes: u64 = to_write.iter().map(|chunk| chunk.len() as u64).sum();
                let dir = writer.path.parent().unwrap_or(std::path::Path::new("."));
                ensure_room(dir, bytes, writer.min_free_bytes)?;
                for chunk in &to_write {
                    writer.hasher.update(chunk);
                    file.write_all(chunk).map_err(|e| spool_failed(&e))?;
                }
                Ok(writer)
            }),
        ));
        Ok(())
    }

    /// The states once the running batch, if any, is done.
    async fn wait(&mut self) -> Result<(Scanner, Writer), Error> {
        if let Some((checking, writing)) = self.running.take() {
            let stopped = |e: tokio::task::JoinError| {
                Error::Internal(anyhow::anyhow!("receiving the feed stopped: {e}"))
            };
            let checked = checking.await.map_err(stopped);
            let written = writing.await.map_err(stopped);
            self.idle = Some((checked??, written??));
        }
        self.idle
            .take()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a failed feed pipeline was reused")))
    }

    /// The feed's verdict (its number of items) and the body's hash.
    async fn finish(mut self) -> Result<(u64, BodyHash), Error> {
        let (scanner, writer) = self.wait().await?;
        let items = scanner.finish().map_err(malformed)?;
        Ok((items, writer.hasher.finish()))
    }
}

/// A chunk of the body, added to the `size` so far: 413 past `max_bytes`.
fn counted(chunk: Result<Bytes, Error>, size: &mut u64, max_bytes: u64) -> Result<Bytes, Error> {
    let chunk = chunk?;
    *size += chunk.len() as u64;
    check_size(*size, max_bytes)?;
    Ok(chunk)
}

fn check_size(size: u64, max_bytes: u64) -> Result<(), Error> {
    if size > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(())
}

/// The 413 for a body over `INGEST_MAX_BYTES`.
pub fn too_large(max_bytes: u64) -> Error {
    Error::PayloadTooLarge(format!(
        "the feed is larger than the limit of {max_bytes} bytes"
    ))
}

/// The 507 for a body the spool's disk has no room for.
pub fn disk_full(min_free_bytes: u64) -> Error {
    Error::InsufficientStorage(format!(
        "too little disk space is left to spool the feed (at least {min_free_bytes} bytes are kept free); retry later or send a smaller feed"
    ))
}

/// The 507 up front, when the declared size already does not fit.
pub fn check_room(spool: &Spool, declared: u64, min_free_bytes: u64) -> Result<(), Error> {
    if declared <= INLINE_MAX as u64 {
        return Ok(());
    }
    ensure_room(spool.dir(), declared, min_free_bytes)
}

/// The 507 unless writing `bytes` more into `dir` leaves `min_free_bytes`
/// free on its filesystem: before each batch a feed or an upload spools.
pub fn ensure_room(dir: &std::path::Path, bytes: u64, min_free_bytes: u64) -> Result<(), Error> {
    let free = fs4::available_space(dir).map_err(|e| spool_failed(&e))?;
    if free < min_free_bytes.saturating_add(bytes) {
        return Err(disk_full(min_free_bytes));
    }
    Ok(())
}

/// The 400 for a body that is no feed, naming the problem and its offset.
pub fn malformed(e: FeedError) -> Error {
    Error::BadRequest(format!("malformed feed: {e}"))
}

/// The 400 for a body whose reading failed (the client went, or stalled
/// past the idle timeout) after `received` bytes.
pub fn cut_off(received: u64, e: &axum::Error) -> Error {
    Error::BadRequest(format!(
        "the upload was cut off after {received} bytes: {e}"
    ))
}

/// The 500 for a spool file that cannot be written (the cause is logged).
pub fn spool_failed(e: &std::io::Error) -> Error {
    Error::Internal(anyhow::anyhow!("cannot write the spool file: {e}"))
}
