//! Compressed feeds: `Content-Encoding: gzip` or `zstd` on
//! `POST /v1/products`, decoded as the body streams in, so the checker,
//! the hash, the size limit and the spool all see the decoded bytes. The
//! same feed sent plain and compressed is one feed, and a decompression
//! bomb is a 413 as soon as its decoded bytes pass `INGEST_MAX_BYTES`,
//! never more spooled than the limit.

use std::pin::Pin;

use async_compression::tokio::bufread::{GzipDecoder, ZstdDecoder};
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use futures_util::{Stream, StreamExt as _, TryStreamExt as _};
use platform::Error;
use tokio_util::io::{ReaderStream, StreamReader};

/// Decoded bytes handed on at a time.
const CHUNK: usize = 64 * 1024;

/// How a feed's body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// The body's compression from its `Content-Encoding` (`None`: sent
    /// plain); 415 for a coding this endpoint cannot decode, or a chain of
    /// several.
    pub fn of(headers: &HeaderMap) -> Result<Option<Self>, Error> {
        let Some(value) = headers.get(CONTENT_ENCODING) else {
            return Ok(None);
        };
        let value = value.to_str().unwrap_or_default().trim();
        match value.to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Self::Gzip)),
            "zstd" => Ok(Some(Self::Zstd)),
            _ => Err(Error::UnsupportedMediaType(format!(
                "Content-Encoding `{}` is not supported: send the feed plain, gzip or zstd",
                value.escape_debug()
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }
}

/// The decoded bytes of `body`, sent with `compression`. A body that
/// cannot be read or decoded is a 400 naming how far decoding got.
/// Concatenated gzip members (or zstd frames) are one body.
pub fn decoded(
    body: Body,
    compression: Compression,
) -> Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>> {
    let compressed = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let decoded = match compression {
        Compression::Gzip => {
            let mut decoder = GzipDecoder::new(compressed);
            decoder.multiple_members(true);
            ReaderStream::with_capacity(decoder, CHUNK).boxed()
        }
        Compression::Zstd => {
            let mut decoder = ZstdDecoder::new(compressed);
            decoder.multiple_members(true);
            ReaderStream::with_capacity(decoder, CHUNK).boxed()
        }
    };
    let mut size = 0;
    Box::pin(decoded.map(move |chunk| {
        let chunk = chunk.map_err(|e| {
            Error::BadRequest(format!(
                "the {} body was cut off or cannot be decoded after {size} decoded bytes: {e}",
                compression.name()
            ))
        })?;
        size += chunk.len() as u64;
        Ok(chunk)
    }))
}
