//! The Offers service (seed 000): `POST /auth`, `POST /products/register`,
//! `GET /products/{id}/offers`.
//!
//! Every call but `/auth` sends the token in the header literally named
//! `Bearer` (the service's documented `Bearer: <value>`), never in
//! `Authorization`. Answers outside the documentation (5xx, bodies that are
//! not JSON, timeouts) become an [`OffersError`] naming what happened.

use std::sync::Arc;
use std::time::Duration;

use platform::ErrorCode;
use platform::metrics::Metrics;
use rpc::RpcFailure;
use serde::{Deserialize, Serialize};
use url::Url;

/// Why a call to the Offers service failed.
#[derive(Debug, thiserror::Error)]
pub enum OffersError {
    #[error("Offers service unreachable: {0}")]
    Unreachable(String),
    #[error("Offers service did not answer in time")]
    Timeout,
    /// The token was refused: nothing a retry fixes.
    #[error("Offers service refused the access token: {0}")]
    Unauthorized(String),
    #[error("Offers service answered {status}: {msg}")]
    Rejected { status: u16, msg: String },
    #[error("Offers service answered nonsense: {0}")]
    BadAnswer(String),
}

impl From<OffersError> for RpcFailure {
    fn from(e: OffersError) -> Self {
        let code = match e {
            OffersError::Timeout => ErrorCode::UpstreamTimeout,
            _ => ErrorCode::UpstreamError,
        };
        RpcFailure::new(code, e.to_string())
    }
}

/// What the service is told about a product.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub id: uuid::Uuid,
    pub name: String,
    pub description: String,
}

/// One offer as the service lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Listing {
    #[serde(deserialize_with = "id_as_string")]
    pub id: String,
    pub price: i64,
    pub items_in_stock: i64,
}

/// The service's offer ids may be numbers or strings; they are kept as text.
fn id_as_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(id) => Ok(id),
        serde_json::Value::Number(id) => Ok(id.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "an offer id, got {other}"
        ))),
    }
}

/// A pooled client of the Offers service.
#[derive(Clone)]
pub struct OffersClient {
    http: reqwest::Client,
    base: Url,
    /// Where failed calls are counted (`upstream_errors_total`).
    metrics: Option<Arc<Metrics>>,
}

impl OffersClient {
    pub fn new(base: Url, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: platform::http::client(timeout)?,
            base,
            metrics: None,
        })
    }

    /// Counts this client's failed calls in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Passes `outcome` on, counting a failure by its kind.
    fn counted<T>(&self, outcome: Result<T, OffersError>) -> Result<T, OffersError> {
        if let (Err(e), Some(metrics)) = (&outcome, &self.metrics) {
            let kind = match e {
                OffersError::Unreachable(_) => "unreachable",
                OffersError::Timeout => "timeout",
                OffersError::Unauthorized(_) => "unauthorized",
                OffersError::Rejected { .. } => "rejected",
                OffersError::BadAnswer(_) => "bad_answer",
            };
            metrics
                .upstream_errors
                .with_label_values(&["offers", kind])
                .inc();
        }
        outcome
    }

    fn url(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map(|mut segments| {
                segments.pop_if_empty().extend(path);
            })
            .ok();
        url
    }

    /// A new access token.
    pub async fn auth(&self) -> Result<String, OffersError> {
        let outcome = self.try_auth().await;
        self.counted(outcome)
    }

    async fn try_auth(&self) -> Result<String, OffersError> {
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
        }
        let response = send(self.http.post(self.url(&["auth"]))).await?;
        match response.status {
            201 => Ok(decode::<Token>(&response.body)?.access_token),
            _ => Err(response.rejected()),
        }
    }

    /// Registers a product: only the documented 201 with the product's
    /// `{"id"}` counts (a 200 from a maintenance page does not). An id the
    /// service already has (409) counts as registered: the product is
    /// there, which is what was asked.
    pub async fn register(&self, token: &str, product: &Registration) -> Result<(), OffersError> {
        let outcome = self.try_register(token, product).await;
        self.counted(outcome)
    }

    async fn try_register(&self, token: &str, product: &Registration) -> Result<(), OffersError> {
        let request = self
            .http
            .post(self.url(&["products", "register"]))
            .header("Bearer", token)
            .json(product);
        #[derive(Deserialize)]
        struct Created {
            #[serde(deserialize_with = "id_as_string")]
            id: String,
        }
        let response = send(request).await?;
        match response.status {
            201 => {
                let created: Created = decode(&response.body)?;
                if created.id == product.id.to_string() {
                    Ok(())
                } else {
                    Err(OffersError::BadAnswer(format!(
                        "registered id {:?} instead of {}",
                        created.id, product.id
                    )))
                }
            }
            409 => Ok(()),
            401 => Err(OffersError::Unauthorized(response.msg())),
            _ => Err(response.rejected()),
        }
    }

    /// A product's offers; `None` if the service does not know the product.
    pub async fn offers(
        &self,
        token: &str,
        product_id: uuid::Uuid,
    ) -> Result<Option<Vec<Listing>>, OffersError> {
        let outcome = self.try_offers(token, product_id).await;
        self.counted(outcome)
    }

    async fn try_offers(
        &self,
        token: &str,
        product_id: uuid::Uuid,
    ) -> Result<Option<Vec<Listing>>, OffersError> {
        let request = self
            .http
            .get(self.url(&["products", &product_id.to_string(), "offers"]))
            .header("Bearer", token);
        let response = send(request).await?;
        match response.status {
            200 => Ok(Some(decode(&response.body)?)),
            404 => Ok(None),
            401 => Err(OffersError::Unauthorized(response.msg())),
            _ => Err(response.rejected()),
        }
    }
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    /// The `msg` of the service's `{"code","msg"}` body, or the start of
    /// whatever else it sent.
    fn msg(&self) -> String {
        #[derive(Deserialize)]
        struct Body {
            msg: String,
        }
        serde_json::from_slice::<Body>(&self.body).map_or_else(
            |_| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(80)
                    .collect()
            },
            |body| body.msg,
        )
    }

    fn rejected(&self) -> OffersError {
        if (400..500).contains(&self.status) {
            OffersError::Rejected {
                status: self.status,
                msg: self.msg(),
            }
        } else {
            OffersError::BadAnswer(format!("status {}: {}", self.status, self.msg()))
        }
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, OffersError> {
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            OffersError::Timeout
        } else {
            OffersError::Unreachable(format!("{e:#}"))
        }
    };
    let response = request.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let body = platform::http::read_capped(response, platform::http::MAX_ANSWER_BYTES)
        .await
        .map_err(|e| match e {
            platform::http::ReadError::Http(e) => failed(e),
            too_large @ platform::http::ReadError::TooLarge(_) => {
                OffersError::BadAnswer(too_large.to_string())
            }
        })?;
    Ok(Answer { status, body })
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, OffersError> {
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(body).chars().take(80).collect();
        OffersError::BadAnswer(format!("{e} in {start:?}"))
    })
}
