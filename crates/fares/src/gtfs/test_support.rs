//! Small feeds for the unit tests: a base network (agency, stops with a
//! station and its platforms, routes in three networks, areas) that each
//! test extends with the fare files it is about.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};

use super::error::FeedErrors;
use super::model::Feed;

/// Ho Chi Minh City time: UTC+7 all year, so test times read as written.
pub(crate) const AGENCY: &str = "agency_id,agency_name,agency_url,agency_timezone\n\
    A1,Test,https://example.org,Asia/Ho_Chi_Minh\n";

/// Stops A, B, C; station STN with platforms P1 (inherits the station's
/// areas) and P2 (assigned an area of its own); LON keeps London time.
pub(crate) const STOPS: &str = "stop_id,stop_name,location_type,parent_station,stop_timezone\n\
    A,A,,,\n\
    B,B,,,\n\
    C,C,,,\n\
    STN,Station,1,,\n\
    P1,Platform 1,0,STN,\n\
    P2,Platform 2,0,STN,\n\
    LON,London,,,Europe/London\n";

/// Routes in networks bus (2 routes), rail and ferry, and one without network.
pub(crate) const ROUTES: &str = "route_id,agency_id,route_type,network_id\n\
    bus1,A1,3,bus\n\
    bus2,A1,3,bus\n\
    rail1,A1,2,rail\n\
    ferry1,A1,4,ferry\n\
    nonet,A1,3,\n";

/// zone1 = A and the station (so P1); zone2 = B; zone3 = C; zone9 = P2.
pub(crate) const AREAS: &str = "area_id\nzone1\nzone2\nzone3\nzone9\n";
pub(crate) const STOP_AREAS: &str =
    "area_id,stop_id\nzone1,A\nzone1,STN\nzone2,B\nzone3,C\nzone9,P2\n";

/// The base files with `extra` added or replacing them.
pub(crate) fn files(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = [
        ("agency.txt", AGENCY),
        ("stops.txt", STOPS),
        ("routes.txt", ROUTES),
        ("areas.txt", AREAS),
        ("stop_areas.txt", STOP_AREAS),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_owned(), t.to_owned()))
    .collect();
    for (name, text) in extra {
        files.insert((*name).to_owned(), (*text).to_owned());
    }
    files
}

/// Loads the base feed plus `extra`, which the test expects to be valid.
pub(crate) fn feed(extra: &[(&str, &str)]) -> Feed {
    match Feed::load(&files(extra)) {
        Ok(feed) => feed,
        Err(errors) => panic!("the test feed should load: {errors}"),
    }
}

/// Loads the base feed plus `extra`, which the test expects to be rejected.
pub(crate) fn errors(extra: &[(&str, &str)]) -> FeedErrors {
    match Feed::load(&files(extra)) {
        Ok(_) => panic!("the test feed should be rejected"),
        Err(errors) => errors,
    }
}

/// An RFC 3339 time written by the test.
pub(crate) fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).expect("the test writes valid RFC 3339 times")
}
