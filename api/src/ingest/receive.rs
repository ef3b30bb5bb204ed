//! Receiving a feed body: one pass that hashes, checks and spools it.
//!
//! The async side only moves chunks: it reads them off the connection and
//! hands them, through a channel of [`CHANNEL_CHUNKS`], to one blocking
//! thread that feeds the hash, the checker and the spool file. So the
//! CPU work never holds up the runtime's other requests, and at most that
//! many chunks are in memory whatever the body's size; a slow disk slows
//! the upload down instead of filling memory.
//!
//! Bodies up to [`INLINE_MAX`] bytes never touch the disk: they are
//! checked in place and kept in the job's row.

use std::io::Write;

use axum::body::{Body, Bytes};
use feed::{FeedError, Inspected, Inspection};
use futures_util::StreamExt;
use shared::Error;
use tokio::sync::mpsc;

use super::SpoolFile;

/// Bodies up to this size are kept in memory and in the job's row.
pub const INLINE_MAX: usize = 64 * 1024;

/// Chunks in flight between the connection and the blocking thread.
const CHANNEL_CHUNKS: usize = 16;

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
pub async fn receive(body: Body, max_bytes: u64, spool_to: SpoolFile) -> Result<Received, Error> {
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

    let (chunks, mut inbox) = mpsc::channel::<Message>(CHANNEL_CHUNKS);
    let path = spool_to.path().to_owned();
    let worker = tokio::task::spawn_blocking(move || -> Result<Inspected, Error> {
        let mut file = std::fs::File::create(&path).map_err(|e| spool_failed(&e))?;
        let mut inspection = Inspection::new();
        while let Some(message) = inbox.blocking_recv() {
            match message {
                Message::Chunk(chunk) => {
                    inspection.update(&chunk).map_err(malformed)?;
                    file.write_all(&chunk).map_err(|e| spool_failed(&e))?;
                }
                Message::End => return inspection.finish().map_err(malformed),
            }
        }
        Err(Error::BadRequest(format!(
            "the upload was cut off after {} bytes",
            inspection.size()
        )))
    });

    let mut size = first_spooled.len() as u64;
    let mut next = Some(Message::Chunk(first_spooled));
    let streamed = loop {
        if let Some(message) = next.take()
            && chunks.send(message).await.is_err()
        {
            // The worker stopped on a problem in the body: its error says which.
            break Ok(());
        }
        match stream.next().await {
            None => {
                // A closed channel here means the worker has its answer already.
                let _ = chunks.send(Message::End).await;
                break Ok(());
            }
            Some(Err(e)) => break Err(cut_off(size, &e)),
            Some(Ok(chunk)) => {
                size += chunk.len() as u64;
                if let Err(e) = check_size(size, max_bytes) {
                    break Err(e);
                }
                next = Some(Message::Chunk(chunk));
            }
        }
    };
    // Dropping the sender ends a worker that is still waiting for chunks.
    drop(chunks);
    let checked = worker
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("the feed check stopped: {e}")));
    streamed?;
    let inspected = checked??;
    Ok(Received {
        inspected,
        content: Content::Spooled(spool_to),
    })
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
