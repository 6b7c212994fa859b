//! Chaos mode (`PoolBuilder::chaos`): the analog of Go's race-detector
//! behaviour, where `Put` drops one item in four. Here a Put drops its item
//! and a Get ignores the pool, each with probability 1/4, so tests of code
//! that uses a pool catch any reliance on what the pool holds. Never enable
//! it in production builds.

use std::cell::Cell;

use crate::sync::fast_thread_local;

fast_thread_local! {
    /// Per-thread xorshift state; 0 until first use.
    static STATE: Cell<u64> = Cell::new(0);
}

/// True with probability 1/4 (a per-thread xorshift64 generator).
pub(crate) fn one_in_four() -> bool {
    STATE
        .try_with(|state| {
            let mut x = state.get();
            if x == 0 {
                // Seed from the state's address: distinct per live thread.
                x = (state as *const Cell<u64> as u64) | 1;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            x % 4 == 0
        })
        .unwrap_or(false)
}
