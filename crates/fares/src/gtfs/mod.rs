//! GTFS-Fares v2: model, reader, validation, leg matching, transfers and quotes.
