//! libFuzzer target: raw bytes -> a sequential `(slot, op)` history
//! (`History::from_bytes`), replayed on the lock-free pool and on the
//! reference by poolcheck's differential harness; any divergence (results,
//! drops, conservation) or panic is a crash.
//!
//! Run (from the repository root):
//!   cargo +nightly fuzz run differential fuzz/corpus/work fuzz/corpus/differential -- -max_total_time=600
//! New inputs go to the first directory (fuzz/corpus/work, not committed);
//! fuzz/corpus/differential is the committed seed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../verification/src/bin/poolcheck/history.rs"]
mod history;

fuzz_target!(|data: &[u8]| {
    let h = history::History::from_bytes(data);
    let divergence = history::run(&h, false).divergence;
    // No pool is alive between inputs: prune both implementations' global
    // registries of pools (dead entries are only pruned by `cleanup_all`;
    // without this, RSS grows with every input).
    victim_pool::cleanup_all();
    victim_pool_reference::cleanup_all();
    if let Some((at, msg)) = divergence {
        panic!("divergence at {at:?}: {msg}\nhistory: {h:?}");
    }
});
