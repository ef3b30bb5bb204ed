//! What every feature's router uses.
//!
//! - [`compress`]: response compression, for the clients that ask for it.
//! - [`extract`]: JSON, path and query extractors that answer in the error envelope.
//! - [`paging`]: `PageRequest`, which page of a list to read.
//! - [`metrics`]: Prometheus request counts and latency histograms.
//! - [`parse`]: small parsers the features' models share.
//! - [`text`]: the control-character check every text input goes through.

pub mod compress;
pub mod extract;
pub mod metrics;
pub mod paging;
pub mod parse;
pub mod text;
