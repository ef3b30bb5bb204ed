//! Price trends over a period (SPEC section 5), from `price_history`:
//!
//! - `GET /products/{id}/offers/{offer_id}/trend?from=&to=`: one offer's prices;
//! - `GET /products/{id}/trend?from=&to=`: the product's lowest price at each poll.
//!
//! `from` and `to` are RFC 3339 (default: the last 24 hours, both ends
//! included). `change_percent` is the rise (or fall, negative) from the
//! first price to the last, `null` with fewer than two prices or a first
//! price of 0.
//!
//! An answer holds at most `TREND_MAX_POINTS` points (SPEC section 10,
//! "Memory"): a longer series is downsampled to points evenly spaced
//! through it, the first and the last always among them, so
//! `change_percent` is the same as over the whole series.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use catalog_entities::{price_history, product};
use platform::error::ErrorBody;
use platform::{Error, Result, Timestamp};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, EntityTrait, ExprTrait as _, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::web::extract::{Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(offer_trend))
        .routes(routes!(product_trend))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// RFC 3339; default 24 hours before `to`.
    from: Option<String>,
    /// RFC 3339; default now.
    to: Option<String>,
}

/// A price at one poll.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Point {
    /// RFC 3339 UTC.
    pub at: String,
    pub price: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Trend {
    /// The offer's id (offer trend only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_id: Option<String>,
    /// The product's id (product trend only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Uuid>,
    pub from: String,
    pub to: String,
    /// The prices in time order.
    pub prices: Vec<i64>,
    pub points: Vec<Point>,
    /// From the first price to the last, in percent; `null` with fewer than
    /// two prices or a first price of 0.
    pub change_percent: Option<f64>,
}

/// The period when `from` is not given: the day before `to`.
const DEFAULT_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// The period asked for, `from <= to`.
fn period(query: &PeriodQuery, now: Timestamp) -> Result<(Timestamp, Timestamp)> {
    let parse = |name: &str, raw: &str| {
        Timestamp::parse_rfc3339(raw)
            .map_err(|e| Error::BadRequest(format!("{name}: not an RFC 3339 time ({e}): `{raw}`")))
    };
    let to = query
        .to
        .as_deref()
        .map(|raw| parse("to", raw))
        .transpose()?
        .unwrap_or(now);
    let from = match query.from.as_deref() {
        Some(raw) => parse("from", raw)?,
        None => to - DEFAULT_PERIOD,
    };
    if from > to {
        return Err(Error::BadRequest("from: must not be after `to`".into()));
    }
    Ok((from, to))
}

/// The rise from the first price to the last, in percent.
pub fn change_percent(prices: &[i64]) -> Option<f64> {
    match (prices.first(), prices.last()) {
        (Some(&first), Some(&last)) if prices.len() >= 2 && first != 0 => {
            Some((last - first) as f64 / first as f64 * 100.0)
        }
        _ => None,
    }
}

/// At most `max` of `points` (`max` ≥ 2): all of them if they fit, else
/// `max` evenly spaced by position, the first and last included.
pub fn downsample<T: Copy>(points: &[T], max: usize) -> Vec<T> {
    let n = points.len();
    if n <= max {
        return points.to_vec();
    }
    let max = max.max(2);
    (0..max)
        .map(|k| points[(k * (n - 1) + (max - 1) / 2) / (max - 1)])
        .collect()
}

fn trend(
    from: Timestamp,
    to: Timestamp,
    points: Vec<(Timestamp, i64)>,
    max_points: usize,
) -> Trend {
    let points = downsample(&points, max_points);
    let prices: Vec<i64> = points.iter().map(|(_, price)| *price).collect();
    Trend {
        offer_id: None,
        product_id: None,
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        change_percent: change_percent(&prices),
        prices,
        points: points
            .into_iter()
            .map(|(at, price)| Point {
                at: at.to_rfc3339(),
                price,
            })
            .collect(),
    }
}

async fn ensure_product(state: &AppState, id: Uuid) -> Result<()> {
    product::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .map(|_| ())
        .ok_or_else(|| Error::NotFound(format!("product {id} not found")))
}

/// One offer's prices over a period.
#[utoipa::path(
    get,
    path = "/products/{id}/offers/{offer_id}/trend",
    tag = "products",
    params(("id" = Uuid, Path), ("offer_id" = String, Path), PeriodQuery),
    responses(
        (status = 200, body = Trend),
        (status = 400, body = ErrorBody, description = "A bad id or time, or `from` after `to`"),
        (status = 404, body = ErrorBody, description = "No such product, or no price ever seen for that offer"),
    )
)]
pub async fn offer_trend(
    State(state): State<AppState>,
    Path((id, offer_id)): Path<(Uuid, String)>,
    Query(query): Query<PeriodQuery>,
) -> Result<Json<Trend>> {
    let (from, to) = period(&query, state.clock.now())?;
    ensure_product(&state, id).await?;
    let of_offer = price_history::Entity::find()
        .filter(price_history::Column::ProductId.eq(id))
        .filter(price_history::Column::OfferId.eq(offer_id.as_str()));
    let points: Vec<(Timestamp, i64)> = of_offer
        .clone()
        .filter(price_history::Column::ObservedAt.between(from, to))
        .order_by_asc(price_history::Column::ObservedAt)
        .order_by_asc(price_history::Column::Id)
        .select_only()
        .column(price_history::Column::ObservedAt)
        .column(price_history::Column::Price)
        .into_tuple()
        .all(&state.db)
        .await?;
    // No price in the period: an empty trend, or a 404 if the offer was
    // never seen at all (asked only then, off the common path).
    if points.is_empty() && of_offer.count(&state.db).await? == 0 {
        return Err(Error::NotFound(format!(
            "offer {offer_id} of product {id} not found"
        )));
    }
    let mut trend = trend(from, to, points, state.settings.catalog.trend_max_points);
    trend.offer_id = Some(offer_id);
    Ok(Json(trend))
}

#[derive(Debug, FromQueryResult)]
struct Lowest {
    observed_at: Timestamp,
    price: i64,
}

/// The product's lowest price at each poll over a period.
#[utoipa::path(
    get,
    path = "/products/{id}/trend",
    tag = "products",
    params(("id" = Uuid, Path), PeriodQuery),
    responses(
        (status = 200, body = Trend),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn product_trend(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<PeriodQuery>,
) -> Result<Json<Trend>> {
    let (from, to) = period(&query, state.clock.now())?;
    ensure_product(&state, id).await?;
    let lowest = price_history::Entity::find()
        .select_only()
        .column(price_history::Column::ObservedAt)
        .column_as(Expr::col(price_history::Column::Price).min(), "price")
        .filter(price_history::Column::ProductId.eq(id))
        .filter(price_history::Column::ObservedAt.between(from, to))
        .group_by(price_history::Column::ObservedAt)
        .order_by_asc(price_history::Column::ObservedAt)
        .into_model::<Lowest>()
        .all(&state.db)
        .await?;
    let mut trend = trend(
        from,
        to,
        lowest
            .into_iter()
            .map(|row| (row.observed_at, row.price))
            .collect(),
        state.settings.catalog.trend_max_points,
    );
    trend.product_id = Some(id);
    Ok(Json(trend))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_is_from_the_first_price_to_the_last() {
        assert_eq!(change_percent(&[1000, 1100]), Some(10.0));
        assert_eq!(change_percent(&[1000, 1100, 990]), Some(-1.0));
        assert_eq!(change_percent(&[1000]), None);
        assert_eq!(change_percent(&[]), None);
        assert_eq!(change_percent(&[0, 100]), None);
    }

    #[test]
    fn long_series_are_downsampled_keeping_the_first_and_the_last() {
        let series: Vec<i64> = (0..10_000).collect();
        let sampled = downsample(&series, 1000);
        assert_eq!(sampled.len(), 1000);
        assert_eq!(sampled.first(), Some(&0));
        assert_eq!(sampled.last(), Some(&9_999));
        assert!(
            sampled.windows(2).all(|w| w[0] < w[1]),
            "in order, no repeats"
        );
        assert_eq!(downsample(&series[..1000], 1000).len(), 1000);
        assert_eq!(downsample(&series[..3], 1000), vec![0, 1, 2]);
        assert_eq!(downsample(&series[..1001], 1000).last(), Some(&1000));
    }

    #[test]
    fn a_period_defaults_to_the_last_day_and_must_be_in_order() {
        let now = Timestamp::from_micros(1_700_000_000_000_000);
        let none = PeriodQuery {
            from: None,
            to: None,
        };
        assert_eq!(
            period(&none, now).ok(),
            Some((Timestamp::from_micros(1_699_913_600_000_000), now))
        );
        let reversed = PeriodQuery {
            from: Some("2026-01-02T00:00:00Z".into()),
            to: Some("2026-01-01T00:00:00Z".into()),
        };
        assert!(period(&reversed, now).is_err());
        let bad = PeriodQuery {
            from: Some("yesterday".into()),
            to: None,
        };
        assert!(period(&bad, now).is_err());
    }
}
