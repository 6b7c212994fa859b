//! Sequential differential testing of `victim_pool::Pool` against the
//! reference: random histories of `(pool, slot, operation)` steps, identical
//! results after every step, identical drops, and every item dropped exactly
//! once at the end.
//!
//! `cleanup_all` steps live in `tests/serial.rs`: `cleanup_all` reaches every
//! pool in the process, so it must not run beside other tests' pools.

#![cfg(not(any(loom, shuttle)))]

mod common;

use common::pool_machine;
use proptest::prelude::*;

proptest! {
    #![proptest_config(common::config(
        regressions!("pool_differential.txt"),
        common::DEFAULT_CASES,
    ))]

    #[test]
    fn pool_matches_reference(case in pool_machine::case(false, 48)) {
        pool_machine::run(&case)?;
    }
}
