//! The pfsync state table and the conversion of ended states into flows.
//!
//! Since OpenBSD 4.5 (and on FreeBSD) a deletion carries only the state's
//! id and creator, so the table must remember, from the states it saw
//! inserted and updated, everything a flow record needs. See
//! [`table::StateTable`] for the bookkeeping, [`convert`] for the
//! pflow(4)-compatible mapping to [`crate::flow::Flow`]s and [`persist`]
//! for the state file that carries the table across a restart.
//!
//! Honest counters: only legacy pfsync (v2–v4) read on pfsync0 carries a
//! state's final counters in its deletion. Every other dialect deletes with
//! DEL_C (id and creator only), so a flow record carries the counters of the
//! last full state seen — often the INS, with one packet or none — and
//! [`Tracked::counters_at`] says when they were seen. Fresher counters can
//! only come from asking the firewall (a daemon matter, not this module's).
//!
//! Restarts: states whose deletion went by while we were down cannot be
//! known; they stay until a CLR, a completed bulk transfer (they go stale)
//! or the bound ends them, and are then reported late.

pub mod convert;
pub mod persist;
#[cfg(test)]
mod scenario_tests;
pub mod table;

pub use convert::{ConvertOptions, flows_of};
pub use table::{
    Completed, DEFAULT_STALE_GRACE_SECS, StateId, StateTable, TableConfig, TableStats, Tracked,
    message_id,
};
