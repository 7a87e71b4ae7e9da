//! The public availability feed, ParkAPI v3 compatible:
//! `GET /v1/parking/sites` and `GET /v1/parking/sites/{uid}`.
//!
//! One item per site and vehicle class (ParkAPI gives a site one
//! `purpose`); its `uid` is the site id, or `<site>:<class>` for a site with
//! several classes. Fields follow ParkAPI v3's `ParkingSite` (`name`,
//! `type`, `purpose`, `lat`/`lon` as decimal strings, `capacity`,
//! `realtime_capacity`, `realtime_free_capacity`, `realtime_opening_status`,
//! `realtime_data_updated_at`, `static_data_updated_at`, `opening_hours`,
//! `has_fee`, `fee_description`, `park_and_ride_type`, …); the list is
//! `{"items": […], "total_count": n}`. OneTicket adds `vehicle_class` and
//! `status`:
//!
//! | `status` | when | `realtime_opening_status` |
//! |---|---|---|
//! | `closed` | the operator closed the site | `CLOSED` |
//! | `unknown` | no counter, or its source time is older than `stale_after_s` | `UNKNOWN` (no free count: a stale number would mislead) |
//! | `full` | no free place | `OPEN` |
//! | `open` | otherwise | `OPEN` |
//!
//! The source time (`realtime_data_updated_at`) is the last time a gate, an
//! operator or the counter check wrote the lot's counter.
//!
//! Public: no authentication; rate-limited per client IP; answered from an
//! in-process cache of `cache_ttl_ms` with `Cache-Control: public,
//! max-age=max_age_s`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use service_kit::{ApiError, Json, Path};
use store_pg::parking::SiteRecord;
use store_redis::occupancy::{self, Occupancy};

use crate::state::ParkingState;

/// How long the built feed is served from memory, ms: occupancy moves a
/// few vehicles a minute per lot, and 10 s keeps a popular feed to one
/// Postgres and four Redis reads per instance per 10 s.
pub const FEED_CACHE_TTL_MS: u64 = 10_000;
/// `Cache-Control: max-age` of the feed, s: the same 10 s, so browsers and
/// proxies cache no longer than we do.
pub const FEED_MAX_AGE_S: u64 = 10;
/// A counter whose source time is older than this is `unknown`, s: five
/// minutes, the APDS demand cadence, so a dead gate system shows as
/// unknown rather than repeating its last number.
pub const STALE_AFTER_S: i64 = 300;
/// Sustained feed requests per client IP per minute: two a second, far
/// more than an app polling every 30 s or a trip planner every 5 minutes.
pub const FEED_RATE_PER_MINUTE: u32 = 120;
/// Feed requests a client may make at once.
pub const FEED_BURST: u32 = 30;

/// Where the client IP of a request comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientIp {
    /// The TCP peer (`ConnectInfo`). Without it every client shares one
    /// bucket.
    Peer,
    /// The last `X-Forwarded-For` entry: only behind our own proxy.
    ForwardedFor,
}

/// The feed's settings.
#[derive(Clone, Copy, Debug)]
pub struct FeedSettings {
    /// See [`FEED_CACHE_TTL_MS`].
    pub cache_ttl_ms: u64,
    /// See [`FEED_MAX_AGE_S`].
    pub max_age_s: u64,
    /// See [`STALE_AFTER_S`].
    pub stale_after_s: i64,
    /// See [`FEED_RATE_PER_MINUTE`].
    pub rate_per_minute: u32,
    /// See [`FEED_BURST`].
    pub burst: u32,
    /// Where client IPs come from.
    pub client_ip: ClientIp,
}

impl FeedSettings {
    /// The defaults, with the client IP taken from `X-Forwarded-For` when
    /// `OT_TRUST_FORWARDED_FOR` is true (the same switch as the rider API's:
    /// only behind a proxy that sets the header).
    ///
    /// # Errors
    /// A value that is not a boolean.
    pub fn from_env(env: &service_kit::Env) -> Result<FeedSettings, service_kit::EnvError> {
        let forwarded = env.optional_or("OT_TRUST_FORWARDED_FOR", false)?;
        Ok(FeedSettings {
            client_ip: if forwarded {
                ClientIp::ForwardedFor
            } else {
                ClientIp::Peer
            },
            ..FeedSettings::default()
        })
    }
}

impl Default for FeedSettings {
    fn default() -> Self {
        FeedSettings {
            cache_ttl_ms: FEED_CACHE_TTL_MS,
            max_age_s: FEED_MAX_AGE_S,
            stale_after_s: STALE_AFTER_S,
            rate_per_minute: FEED_RATE_PER_MINUTE,
            burst: FEED_BURST,
            client_ip: ClientIp::Peer,
        }
    }
}

/// The built feed, shared until it expires.
#[derive(Debug, Default)]
pub struct FeedCache {
    built: Mutex<Option<(Instant, Arc<Vec<ParkingSite>>)>>,
}

/// What a site and class is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Places free.
    Open,
    /// Closed by the operator.
    Closed,
    /// No free place.
    Full,
    /// No fresh count.
    Unknown,
}

impl Status {
    fn parkapi(self) -> &'static str {
        match self {
            Status::Open | Status::Full => "OPEN",
            Status::Closed => "CLOSED",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// The status of a site's class (see the module docs).
#[must_use]
pub fn status_of(
    site_open: bool,
    counter: Option<Occupancy>,
    capacity: u32,
    now: DateTime<Utc>,
    stale_after_s: i64,
) -> Status {
    if !site_open {
        return Status::Closed;
    }
    let Some(counter) = counter else {
        return Status::Unknown;
    };
    let age_ms = now.timestamp_millis().saturating_sub(counter.updated_ms);
    if age_ms > stale_after_s.saturating_mul(1_000) {
        return Status::Unknown;
    }
    if counter.occupied >= capacity {
        Status::Full
    } else {
        Status::Open
    }
}

/// One item of the feed (ParkAPI v3 `ParkingSite`, plus `vehicle_class`
/// and `status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParkingSite {
    /// The site id, or `<site>:<class>` for a site with several classes.
    pub uid: String,
    /// The site id.
    pub original_uid: String,
    /// Display name.
    pub name: String,
    /// The operator's name.
    pub operator_name: String,
    /// Postal address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// ParkAPI `ParkingSiteType`.
    #[serde(rename = "type")]
    pub site_type: String,
    /// ParkAPI `PurposeType`.
    pub purpose: String,
    /// The OneTicket vehicle class.
    pub vehicle_class: String,
    /// Parking here costs money.
    pub has_fee: bool,
    /// The tariff in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee_description: Option<String>,
    /// Counted live by the gates.
    pub has_realtime_data: bool,
    /// Latitude, decimal string.
    pub lat: String,
    /// Longitude, decimal string.
    pub lon: String,
    /// Bays.
    pub capacity: u32,
    /// Bays, live (absent when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_capacity: Option<u32>,
    /// Free bays, live (absent when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_free_capacity: Option<u32>,
    /// `OPEN`, `CLOSED` or `UNKNOWN`.
    pub realtime_opening_status: String,
    /// The counter's source time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realtime_data_updated_at: Option<String>,
    /// When the static data last changed.
    pub static_data_updated_at: String,
    /// OSM `opening_hours`.
    pub opening_hours: String,
    /// `TRAIN` at a park-and-ride lot, else `NO`.
    pub park_and_ride_type: Vec<String>,
    /// A page for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// OneTicket's status (see the module docs).
    pub status: Status,
}

/// The list reply.
#[derive(Clone, Debug, Serialize)]
pub struct ParkingSiteList {
    /// The items, in uid order.
    pub items: Vec<ParkingSite>,
    /// How many.
    pub total_count: usize,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The feed items of one site, given its counter (`None`: none).
#[must_use]
pub fn items_of(
    site: &SiteRecord,
    counter: Option<Occupancy>,
    now: DateTime<Utc>,
    stale_after_s: i64,
) -> Vec<ParkingSite> {
    let several = site.classes.len() > 1;
    site.classes
        .iter()
        .map(|class| {
            let status = status_of(
                site.status == "open",
                counter,
                class.capacity,
                now,
                stale_after_s,
            );
            let live = matches!(status, Status::Open | Status::Full);
            let free = counter.map(|c| class.capacity.saturating_sub(c.occupied));
            ParkingSite {
                uid: if several {
                    format!("{}:{}", site.site_id, class.vehicle_class)
                } else {
                    site.site_id.clone()
                },
                original_uid: site.site_id.clone(),
                name: site.name.clone(),
                operator_name: site.operator_name.clone(),
                address: site.address.clone(),
                site_type: site.site_type.clone(),
                purpose: class.parkapi_purpose.clone(),
                vehicle_class: class.vehicle_class.clone(),
                has_fee: true,
                fee_description: class.tariff.as_ref().map(|t| t.fee_description.clone()),
                has_realtime_data: true,
                lat: site.lat.clone(),
                lon: site.lon.clone(),
                capacity: class.capacity,
                realtime_capacity: live.then_some(class.capacity),
                realtime_free_capacity: if live { free } else { None },
                realtime_opening_status: status.parkapi().to_owned(),
                realtime_data_updated_at: counter
                    .and_then(|c| DateTime::from_timestamp_millis(c.updated_ms))
                    .map(rfc3339),
                static_data_updated_at: rfc3339(site.static_updated_at),
                opening_hours: site.opening_hours.clone(),
                park_and_ride_type: vec![
                    if site.linked_station_id.is_some() {
                        "TRAIN"
                    } else {
                        "NO"
                    }
                    .to_owned(),
                ],
                public_url: site.public_url.clone(),
                status,
            }
        })
        .collect()
}

/// Builds the feed now: the sites from Postgres, each lot's counter from
/// Redis.
async fn build(state: &ParkingState) -> Result<Vec<ParkingSite>, ApiError> {
    let now = state.clock().now();
    let sites = state.store().sites(now).await.map_err(ApiError::internal)?;
    let mut redis = state.redis();
    let mut items = Vec::new();
    for site in &sites {
        let counter = match state.lots().get(&site.site_id) {
            Some(lot) => occupancy::read(&mut redis, &lot.keys)
                .await
                .map_err(ApiError::internal)?,
            None => None,
        };
        items.extend(items_of(site, counter, now, state.inner.feed.stale_after_s));
    }
    items.sort_by(|a, b| a.uid.cmp(&b.uid));
    Ok(items)
}

/// The feed, from the cache when fresh.
async fn feed(state: &ParkingState) -> Result<Arc<Vec<ParkingSite>>, ApiError> {
    let ttl = Duration::from_millis(state.inner.feed.cache_ttl_ms);
    {
        let built = state
            .inner
            .feed_cache
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, items)) = built.as_ref()
            && at.elapsed() < ttl
        {
            return Ok(Arc::clone(items));
        }
    }
    let items = Arc::new(build(state).await?);
    *state
        .inner
        .feed_cache
        .built
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some((Instant::now(), Arc::clone(&items)));
    Ok(items)
}

/// Drops the cached feed (after an operator changed a site or a counter).
pub(crate) fn invalidate(state: &ParkingState) {
    *state
        .inner
        .feed_cache
        .built
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

fn client_ip(state: &ParkingState, headers: &HeaderMap, request: &Request) -> IpAddr {
    let unknown = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    match state.inner.feed.client_ip {
        // Our proxy appends the peer it saw: the last entry of the last
        // header is the only one a client cannot forge.
        ClientIp::ForwardedFor => headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|part| part.trim().parse::<IpAddr>().ok())
            .unwrap_or(unknown),
        ClientIp::Peer => request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(unknown, |ConnectInfo(addr)| addr.ip()),
    }
}

fn limit(state: &ParkingState, headers: &HeaderMap, request: &Request) -> Result<(), ApiError> {
    let ip = client_ip(state, headers, request);
    state
        .inner
        .limiter
        .check(ip, Instant::now())
        .map_err(|retry_after_s| ApiError::RateLimited { retry_after_s })
}

fn cached<T: Serialize>(state: &ParkingState, body: T) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) =
        HeaderValue::from_str(&format!("public, max-age={}", state.inner.feed.max_age_s))
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

/// `GET /v1/parking/sites`.
#[tracing::instrument(skip_all)]
pub(crate) async fn list_sites(
    State(state): State<ParkingState>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    limit(&state, &headers, &request)?;
    let items = feed(&state).await?;
    Ok(cached(
        &state,
        ParkingSiteList {
            total_count: items.len(),
            items: items.as_ref().clone(),
        },
    ))
}

/// `GET /v1/parking/sites/{uid}`.
#[tracing::instrument(skip_all, fields(uid = %uid))]
pub(crate) async fn get_site(
    State(state): State<ParkingState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    limit(&state, &headers, &request)?;
    let items = feed(&state).await?;
    let item = items
        .iter()
        .find(|item| item.uid == uid)
        .cloned()
        .ok_or_else(|| ApiError::not_found("no parking site with this uid"))?;
    Ok(cached(&state, item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_pg::parking::{ClassRecord, TariffRecord};

    const NOW_S: i64 = 1_767_225_600;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).expect("in range")
    }

    fn counter(occupied: u32, age_s: i64) -> Option<Occupancy> {
        Some(Occupancy {
            occupied,
            capacity: 450,
            updated_ms: (NOW_S - age_s) * 1_000,
        })
    }

    #[test]
    fn statuses() {
        let check = |open: bool, c: Option<Occupancy>, expected: Status| {
            assert_eq!(
                status_of(open, c, 450, at(NOW_S), STALE_AFTER_S),
                expected,
                "{open} {c:?}"
            );
        };
        check(true, counter(0, 0), Status::Open);
        check(true, counter(449, STALE_AFTER_S), Status::Open);
        check(true, counter(450, 10), Status::Full);
        check(true, counter(100, STALE_AFTER_S + 1), Status::Unknown);
        check(true, None, Status::Unknown);
        check(false, counter(10, 0), Status::Closed);
        check(false, None, Status::Closed);
    }

    fn site(classes: &[(&str, &str, u32)]) -> SiteRecord {
        SiteRecord {
            site_id: "BTH-P".into(),
            operator_id: "hurc1".into(),
            operator_name: "HURC1".into(),
            name: "Ben Thanh".into(),
            site_type: "UNDERGROUND".into(),
            lat: "10.772200".into(),
            lon: "106.698100".into(),
            address: None,
            opening_hours: "24/7".into(),
            status: "open".into(),
            linked_station_id: Some("BTH".into()),
            public_url: None,
            static_updated_at: at(NOW_S - 86_400),
            classes: classes
                .iter()
                .map(|(class, purpose, capacity)| ClassRecord {
                    vehicle_class: (*class).into(),
                    parkapi_purpose: (*purpose).into(),
                    capacity: *capacity,
                    tariff: Some(TariffRecord {
                        valid_from: at(0),
                        engine_tariff_id: "metro_motorbike".into(),
                        lost_ticket_fee_vnd: 8_000,
                        fee_description: "4,000 VND per started 12 h".into(),
                    }),
                })
                .collect(),
        }
    }

    #[test]
    fn items_carry_parkapi_fields_and_hide_stale_counts() {
        let items = items_of(
            &site(&[("motorbike", "MOTORCYCLE", 450)]),
            counter(120, 5),
            at(NOW_S),
            STALE_AFTER_S,
        );
        let json = serde_json::to_value(&items).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!([{
                "uid": "BTH-P", "original_uid": "BTH-P", "name": "Ben Thanh", "operator_name": "HURC1",
                "type": "UNDERGROUND", "purpose": "MOTORCYCLE", "vehicle_class": "motorbike",
                "has_fee": true, "fee_description": "4,000 VND per started 12 h",
                "has_realtime_data": true, "lat": "10.772200", "lon": "106.698100",
                "capacity": 450, "realtime_capacity": 450, "realtime_free_capacity": 330,
                "realtime_opening_status": "OPEN", "realtime_data_updated_at": "2025-12-31T23:59:55Z",
                "static_data_updated_at": "2025-12-31T00:00:00Z", "opening_hours": "24/7",
                "park_and_ride_type": ["TRAIN"], "status": "open"
            }])
        );
        let stale = items_of(
            &site(&[("motorbike", "MOTORCYCLE", 450)]),
            counter(120, 3_600),
            at(NOW_S),
            STALE_AFTER_S,
        );
        assert_eq!(stale[0].status, Status::Unknown);
        assert_eq!(stale[0].realtime_free_capacity, None);
        assert_eq!(stale[0].realtime_opening_status, "UNKNOWN");
        let two = items_of(
            &site(&[("car", "CAR", 10), ("motorbike", "MOTORCYCLE", 450)]),
            counter(10, 0),
            at(NOW_S),
            STALE_AFTER_S,
        );
        let uids: Vec<&str> = two.iter().map(|i| i.uid.as_str()).collect();
        assert_eq!(uids, ["BTH-P:car", "BTH-P:motorbike"]);
        assert_eq!(two[0].status, Status::Full);
    }
}
