//! Redis adapter: the hot projection, commit scripts and streams.
