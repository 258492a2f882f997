//! The pfsync state table and the conversion of ended states into flows.
//!
//! Since OpenBSD 4.5 (and on FreeBSD) a deletion carries only the state's
//! id and creator, so the table must remember, from the states it saw
//! inserted and updated, everything a flow record needs. See
//! [`table::StateTable`] for the bookkeeping and [`convert`] for the
//! pflow(4)-compatible mapping to [`crate::flow::Flow`]s.

pub mod convert;
pub mod persist;
#[cfg(test)]
mod scenario_tests;
pub mod table;

pub use convert::{ConvertOptions, flows_of};
pub use table::{
    Completed, DEFAULT_STALE_GRACE_SECS, StateId, StateTable, TableConfig, TableStats, Tracked,
};
