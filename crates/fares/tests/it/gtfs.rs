//! GTFS-Fares v2 feeds read from disk fixtures and quoted.
