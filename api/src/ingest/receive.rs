//! Receiving a feed body: one pass that hashes, checks and spools it.
//!
//! The async side only moves chunks: it reads them off the connection and
//! hands each (a reference-counted buffer, not a copy) through channels of
//! [`CHANNEL_CHUNKS`] to two blocking threads working side by side: one
//! runs the feed checker, the other the hash and the spool file. So the
//! CPU work never holds up the runtime's other requests, and at most that
//! many chunks per channel are in memory whatever the body's size; a slow
//! disk or checker slows the upload down instead of filling memory.
//!
//! Bodies up to [`INLINE_MAX`] bytes never touch the disk: they are
//! checked in place and kept in the job's row.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use feed::{BodyHash, BodyHasher, FeedError, Inspected, Inspection, Scanner};
use futures_util::StreamExt;
use shared::Error;
use tokio::sync::mpsc;

use super::SpoolFile;

/// Bodies up to this size are kept in memory and in the job's row.
pub const INLINE_MAX: usize = 64 * 1024;

/// Chunks in flight between the connection and the blocking thread.
pub const CHANNEL_CHUNKS: usize = 16;

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

enum Message {
    Chunk(Bytes),
    /// The body ended normally; without it the upload was cut off.
    End,
}

/// Reads `body` to its end. Fails with 400 for a malformed feed (naming
/// the first problem and its byte offset) or an upload cut off, and 413
/// past `max_bytes`; a spool file is deleted on every failure.
/// `spool_to` is where a body too large to keep in memory goes.
pub async fn receive(body: Body, max_bytes: u64, spool_to: PathBuf) -> Result<Received, Error> {
    let mut stream = body.into_data_stream();
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
                let chunk = chunk.map_err(|e| cut_off(buffer.len() as u64, &e))?;
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
    let spool_to = SpoolFile::new(spool_to);
    let (to_checker, checker_inbox) = mpsc::channel::<Message>(CHANNEL_CHUNKS);
    let (to_writer, writer_inbox) = mpsc::channel::<Message>(CHANNEL_CHUNKS);
    let checker = tokio::task::spawn_blocking(move || check(checker_inbox));
    let path = spool_to.path().to_owned();
    let writer = tokio::task::spawn_blocking(move || hash_and_write(writer_inbox, &path));

    let mut size = first_spooled.len() as u64;
    let mut next = Some(first_spooled);
    let streamed = loop {
        if let Some(chunk) = next.take()
            && (to_checker
                .send(Message::Chunk(chunk.clone()))
                .await
                .is_err()
                || to_writer.send(Message::Chunk(chunk)).await.is_err())
        {
            // A thread stopped on a problem: its answer says which.
            break Ok(());
        }
        match stream.next().await {
            None => {
                // A closed channel here means that thread has its answer already.
                let _ = to_checker.send(Message::End).await;
                let _ = to_writer.send(Message::End).await;
                break Ok(());
            }
            Some(Err(e)) => break Err(cut_off(size, &e)),
            Some(Ok(chunk)) => {
                size += chunk.len() as u64;
                if let Err(e) = check_size(size, max_bytes) {
                    break Err(e);
                }
                next = Some(chunk);
            }
        }
    };
    // Dropping the senders ends a thread that is still waiting for chunks.
    drop((to_checker, to_writer));
    let stopped = |e: tokio::task::JoinError| {
        Error::Internal(anyhow::anyhow!("receiving the feed stopped: {e}"))
    };
    let checked = checker.await.map_err(stopped);
    let written = writer.await.map_err(stopped);
    streamed?;
    let items = checked??;
    let hash = written??;
    Ok(Received {
        inspected: Inspected { hash, size, items },
        content: Content::Spooled(spool_to),
    })
}

/// The checker thread: the feed's verdict and its number of items.
fn check(mut inbox: mpsc::Receiver<Message>) -> Result<u64, Error> {
    let mut scanner = Scanner::checking();
    while let Some(message) = inbox.blocking_recv() {
        match message {
            Message::Chunk(chunk) => scanner.feed(&chunk, &mut |_| {}).map_err(malformed)?,
            Message::End => return scanner.finish().map_err(malformed),
        }
    }
    Err(Error::BadRequest("the upload was cut off".into()))
}

/// The writer thread: the body's hash, and the body in the spool file.
fn hash_and_write(mut inbox: mpsc::Receiver<Message>, path: &Path) -> Result<BodyHash, Error> {
    let mut file = std::fs::File::create(path).map_err(|e| spool_failed(&e))?;
    let mut hasher = BodyHasher::new();
    while let Some(message) = inbox.blocking_recv() {
        match message {
            Message::Chunk(chunk) => {
                hasher.update(&chunk);
                file.write_all(&chunk).map_err(|e| spool_failed(&e))?;
            }
            Message::End => return Ok(hasher.finish()),
        }
    }
    Err(Error::BadRequest("the upload was cut off".into()))
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

fn malformed(e: FeedError) -> Error {
    Error::BadRequest(format!("malformed feed: {e}"))
}

fn cut_off(received: u64, e: &axum::Error) -> Error {
    Error::BadRequest(format!(
        "the upload was cut off after {received} bytes: {e}"
    ))
}

fn spool_failed(e: &std::io::Error) -> Error {
    Error::Internal(anyhow::anyhow!("cannot write the spool file: {e}"))
}
