//! What the benchmarks (`tests/bench/*.rs`, examples of the end-to-end crate) share, as a module of the
//! test support crate rather than files pulled in by `#[path]`.

pub mod common;
pub mod scripted;
