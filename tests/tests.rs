//! The integration tests: one binary (see `it/`), driving the real
//! `stateflowd` executable against real collectors.

mod it;
