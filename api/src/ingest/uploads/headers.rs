//! The tus 1.0 headers, and the checks every tus request goes through.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use platform::Error;

pub const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
pub const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
pub const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
pub const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
/// Mercato's own: the ingest a completed upload became.
pub const INGEST_ID: HeaderName = HeaderName::from_static("mercato-ingest-id");

/// The one protocol version served.
pub const VERSION: HeaderValue = HeaderValue::from_static("1.0.0");

/// The extensions served.
pub const EXTENSIONS: HeaderValue =
    HeaderValue::from_static("creation,creation-with-upload,termination,expiration");

/// The content type of every body that carries upload bytes.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// The longest `Upload-Metadata` kept.
pub const MAX_METADATA_BYTES: usize = 4096;

/// 412 unless the client speaks tus 1.0.0.
pub fn check_version(headers: &HeaderMap) -> Result<(), Error> {
    match headers.get(TUS_RESUMABLE) {
        Some(version) if version == VERSION => Ok(()),
        Some(_) => Err(Error::PreconditionFailed(
            "this server speaks tus 1.0.0 only (Tus-Version)".to_owned(),
        )),
        None => Err(Error::PreconditionFailed(
            "a tus request carries `Tus-Resumable: 1.0.0`".to_owned(),
        )),
    }
}

/// A non-negative integer header, or a 400 naming it; `None` if absent.
pub fn number(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, Error> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .ok()
                .filter(|raw| !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|raw| raw.parse::<u64>().ok())
                .ok_or_else(|| Error::BadRequest(format!("{name} must be a non-negative integer")))
        })
        .transpose()
}

/// Whether the request carries upload bytes: `Content-Type:
/// application/offset+octet-stream`.
pub fn carries_bytes(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

/// `Upload-Metadata`, checked: comma-separated `key` or `key base64value`
/// pairs, keys printable ASCII without spaces or commas, at most
/// [`MAX_METADATA_BYTES`]. `None` if absent.
pub fn metadata(headers: &HeaderMap) -> Result<Option<String>, Error> {
    use base64::Engine as _;
    let Some(value) = headers.get(UPLOAD_METADATA) else {
        return Ok(None);
    };
    let bad = |why: &str| Error::BadRequest(format!("Upload-Metadata: {why}"));
    if value.len() > MAX_METADATA_BYTES {
        return Err(bad(&format!("at most {MAX_METADATA_BYTES} bytes")));
    }
    let raw = value.to_str().map_err(|_| bad("not ASCII"))?;
    for pair in raw
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
    {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(bad("keys are printable ASCII without spaces or commas"));
        }
        if let Some(encoded) = parts.next()
            && base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .is_err()
        {
            return Err(bad(&format!("the value of `{key}` is not base64")));
        }
        if parts.next().is_some() {
            return Err(bad("a pair is a key and at most one value"));
        }
    }
    Ok(Some(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("a header value"));
        headers
    }

    #[test]
    fn metadata_is_keys_with_optional_base64_values() {
        let ok = with(UPLOAD_METADATA, "filename ZmVlZC5qc29u,is_confidential");
        assert_eq!(
            metadata(&ok).expect("valid").as_deref(),
            Some("filename ZmVlZC5qc29u,is_confidential")
        );
        for bad in ["filename not*base64", "a b c", "k\u{7f} x"] {
            let Ok(value) = HeaderValue::from_str(bad) else {
                continue;
            };
            let mut headers = HeaderMap::new();
            headers.insert(UPLOAD_METADATA, value);
            assert!(metadata(&headers).is_err(), "{bad}");
        }
        assert!(metadata(&with(UPLOAD_METADATA, &"k ".repeat(3000))).is_err());
    }

    #[test]
    fn offsets_and_lengths_are_plain_non_negative_integers() {
        assert_eq!(
            number(&with(UPLOAD_OFFSET, "42"), &UPLOAD_OFFSET).ok(),
            Some(Some(42))
        );
        for bad in ["-1", "+1", "1.5", "", "0x10"] {
            assert!(
                number(&with(UPLOAD_OFFSET, bad), &UPLOAD_OFFSET).is_err(),
                "{bad}"
            );
        }
        assert_eq!(number(&HeaderMap::new(), &UPLOAD_OFFSET).ok(), Some(None));
    }

    #[test]
    fn only_tus_1_0_0_is_spoken() {
        assert!(check_version(&with(TUS_RESUMABLE, "1.0.0")).is_ok());
        assert!(check_version(&with(TUS_RESUMABLE, "0.2.2")).is_err());
        assert!(check_version(&HeaderMap::new()).is_err());
    }
}
