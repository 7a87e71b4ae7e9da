//! Postgres adapter: the book of record.
