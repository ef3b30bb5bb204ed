//! Feed bodies and ingestion helpers shared by the embedded and cluster tests.

use std::time::Duration;

use axum::body::Bytes;
use futures_util::stream::{self, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A feed of `count` products with skus `<prefix>-0` …, each with a name.
pub fn feed_of(prefix: &str, count: usize) -> String {
    let items: Vec<String> = (0..count)
        .map(|i| format!(r#"{{"id": "{prefix}-{i}", "name": "Product {i} of {prefix}"}}"#))
        .collect();
    format!("[{}]", items.join(","))
}

/// A generated feed of about `total` bytes, as a stream of 1 MiB chunks,
/// so a test can send gigabytes without holding them: `items` products
/// with skus `<prefix>-0` …, each padded with an ignored field to fill
/// the size. Returns the stream and its exact length.
pub fn padded_feed(
    prefix: &str,
    items: u64,
    total: u64,
) -> (
    impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    u64,
) {
    let head = |i: u64| format!(r#"{{"id": "{prefix}-{i}", "name": "Big {i}", "padding": ""#);
    let framing: u64 = (0..items).map(|i| head(i).len() as u64 + 2).sum::<u64>() + items + 1;
    let padding = total.saturating_sub(framing) / items.max(1);
    let length = framing + padding * items;
    let prefix = prefix.to_owned();
    let chunk = Bytes::from(vec![b'x'; 1024 * 1024]);
    let pieces = (0..items).flat_map(move |i| {
        let open = if i == 0 { "[" } else { "," };
        let head = format!(r#"{open}{{"id": "{prefix}-{i}", "name": "Big {i}", "padding": ""#);
        let full = padding / chunk.len() as u64;
        let rest = (padding % chunk.len() as u64) as usize;
        let close = if i + 1 == items { "\"}]" } else { "\"}" };
        std::iter::once(Bytes::from(head))
            .chain(std::iter::repeat_n(chunk.clone(), full as usize))
            .chain(std::iter::once(chunk.slice(..rest)))
            .chain(std::iter::once(Bytes::from_static(close.as_bytes())))
    });
    (stream::iter(pieces.map(Ok)), length)
}

/// Polls `GET /v1/products/ingests/{id}` on `base` until the job is
/// `done` or `failed` (failing the test after two minutes), and returns it.
/// Asks without credentials: the job must be an anonymous one.
pub async fn wait_for_ingest(client: &reqwest::Client, base: &str, id: &str) -> serde_json::Value {
    wait_for_ingest_as(client, base, id, None).await
}

/// [`wait_for_ingest`] with an `Authorization` value: an ingest is shown
/// to its sender and admins only.
pub async fn wait_for_ingest_as(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    authorization: Option<&str>,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut request = client.get(format!("{base}/v1/products/ingests/{id}"));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let job: serde_json::Value = request
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("JSON");
        if job["status"] == "done" || job["status"] == "failed" {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ingest {id} did not finish: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `head` (a request line and headers) and then `body`, and closes
/// the connection without reading anything: an upload cut off.
pub async fn cut_off_upload(address: &str, head: &str, body: &[u8]) {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(body).await.expect("send part of the body");
    stream.shutdown().await.ok();
}

/// Sends the head of a `POST /v1/products` of `length` bytes and `start`
/// of its body, and returns the connection, open with the rest unsent: an
/// upload that stalls, or trickles if the caller goes on writing.
pub async fn stalled_upload(address: &str, length: usize, start: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .expect("connect");
    let head =
        format!("POST /v1/products HTTP/1.1\r\nHost: mercato\r\nContent-Length: {length}\r\n\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    stream
        .write_all(start)
        .await
        .expect("send the start of the body");
    stream
}

/// Sends only `head` and reads the answer, which must come without any
/// body being sent. Returns the status line and the rest.
pub async fn answer_to_head(address: &str, head: &str) -> String {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("send head");
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = stream.read(&mut buffer).await.expect("read");
            answer.extend_from_slice(&buffer[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer without the body: {}",
        String::from_utf8_lossy(&answer)
    );
    String::from_utf8_lossy(&answer).into_owned()
}

/// Records a queued job for `body` (kept in its row) straight in the job
/// table, as an accepted feed's row is, but without the API's checks: how
/// tests put data the edge would refuse in front of the applier, or a job
/// that has already failed `attempts` times.
pub async fn record_job_past_the_edge(
    db: &sea_orm::DatabaseConnection,
    id: uuid::Uuid,
    body: Vec<u8>,
    items: u64,
    received_at: platform::Timestamp,
    attempts: i64,
) {
    use api::ingest::entity as ingest_job;
    use api::ingest::jobs;
    use api::ingest::receive::{Content, Received};
    use sea_orm::{ActiveValue, EntityTrait};
    let received = Received {
        inspected: feed::Inspected {
            hash: feed::BodyHash::of(&body),
            size: body.len() as u64,
            items,
        },
        content: Content::Inline(body),
    };
    let mut row = jobs::queued_row(id, &received, "", None, received_at);
    row.attempts = ActiveValue::Set(attempts);
    ingest_job::Entity::insert(row)
        .exec_without_returning(db)
        .await
        .expect("insert the job");
}

/// How many products have a sku starting with `prefix`.
pub async fn products_with_sku_prefix(db: &sea_orm::DatabaseConnection, prefix: &str) -> u64 {
    use catalog_entities::product;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    product::Entity::find()
        .filter(product::Column::Sku.starts_with(prefix))
        .count(db)
        .await
        .expect("count products")
}

/// The hash of a body no other test sends, for claiming the dedupe window
/// directly.
pub fn unique_hash() -> feed::BodyHash {
    feed::BodyHash::of(uuid::Uuid::new_v4().as_bytes())
}

/// The ingest id of holder `n`, for claiming the dedupe window directly.
pub fn holder(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}
