//! Reading a feed's items for the applier: a small body from its row at
//! once, a spooled one on a blocking thread in batches of at most
//! [`BATCH`] items and [`BATCH_BYTES`] of captured fields, each field kept
//! only up to the catalog's bound.

use std::io::Read;

use feed::{Field, FieldLimits, RawItem, Scanner};
use tokio::sync::mpsc;

use crate::catalog::{Description, ProductName, Sku};

/// Items per transaction when a spooled feed is applied, and rows per statement.
pub const BATCH: usize = 1000;

/// Captured field bytes after which a batch is handed over even if it has
/// fewer than [`BATCH`] items.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// How much of a spooled body is read at a time.
const READ_CHUNK: usize = 256 * 1024;

/// How much of each item field the applier keeps: the catalog's bounds.
fn field_limits() -> FieldLimits {
    FieldLimits {
        id: FieldLimits::for_chars(Sku::MAX_CHARS),
        name: FieldLimits::for_chars(ProductName::MAX_CHARS),
        description: FieldLimits::for_chars(Description::MAX_CHARS),
    }
}

/// All the items of a small body from index `skip` on, or its problem.
pub fn read_all_items(body: &[u8], skip: u64) -> Result<Vec<RawItem>, String> {
    let mut scanner = Scanner::extracting_within(field_limits());
    let mut items = Vec::new();
    scanner
        .feed(body, &mut |item| {
            if item.index >= skip {
                items.push(item.clone());
            }
        })
        .map_err(|e| format!("malformed feed: {e}"))?;
    scanner
        .finish()
        .map_err(|e| format!("malformed feed: {e}"))?;
    Ok(items)
}

/// The bytes an item's captured fields hold.
fn captured_bytes(item: &RawItem) -> usize {
    [&item.id, &item.name, &item.description]
        .into_iter()
        .map(|field| match field {
            Some(Field::String(text) | Field::Number(text)) => text.len(),
            _ => 0,
        })
        .sum()
}

/// Reads the body's items from index `skip` on, sending them in batches
/// of at most [`BATCH`] items and [`BATCH_BYTES`]; a problem with the body
/// is sent as its message.
pub fn read_items(
    mut body: impl Read,
    skip: u64,
    batches: &mpsc::Sender<Result<Vec<RawItem>, String>>,
) {
    let mut scanner = Scanner::extracting_within(field_limits());
    let mut full: Vec<Vec<RawItem>> = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut batch_bytes = 0;
    let mut buffer = vec![0; READ_CHUNK];
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a spooled body");
                let _ = batches.blocking_send(Err("the spooled body cannot be read".to_owned()));
                return;
            }
        };
        let fed = scanner.feed(&buffer[..read], &mut |item| {
            if item.index >= skip {
                batch_bytes += captured_bytes(item);
                batch.push(item.clone());
                if batch.len() >= BATCH || batch_bytes >= BATCH_BYTES {
                    full.push(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                    batch_bytes = 0;
                }
            }
        });
        if let Err(e) = fed {
            let _ = batches.blocking_send(Err(format!("malformed feed: {e}")));
            return;
        }
        for ready in full.drain(..) {
            if batches.blocking_send(Ok(ready)).is_err() {
                return;
            }
        }
    }
    match scanner.finish() {
        Ok(_) if batch.is_empty() => {}
        Ok(_) => {
            let _ = batches.blocking_send(Ok(batch));
        }
        Err(e) => {
            let _ = batches.blocking_send(Err(format!("malformed feed: {e}")));
        }
    }
}
