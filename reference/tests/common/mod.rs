//! Shared by the test binaries: a drop-counting item type, the proptest
//! configuration, and the pool state machine that replays one history on
//! both implementations.

#![allow(dead_code, reason = "each test binary uses a part of this module")]

pub mod pool_machine;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use proptest::test_runner::{Config, FileFailurePersistence, RngAlgorithm};

/// Cases per property when `PROPTEST_CASES` is not set.
pub const DEFAULT_CASES: u32 = 10_000;

/// The proptest configuration of every property in `reference/tests`:
/// `default_cases` cases unless `PROPTEST_CASES` says otherwise (the other
/// `PROPTEST_*` variables work as usual, except `PROPTEST_RNG_ALGORITHM`),
/// and failing seeds persisted to
/// `reference/proptest-regressions/<file>` (replayed first on every run).
pub fn config(persistence_file: &'static str, default_cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    // XorShift: ChaCha (the default) dominates the run time of an
    // unoptimised test build. Persisted seeds record their algorithm.
    config.rng_algorithm = RngAlgorithm::XorShift;
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(persistence_file)));
    config
}

/// The path of a regressions file, for [`config`].
#[macro_export]
macro_rules! regressions {
    ($file:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/", $file)
    };
}

/// One implementation's universe of items: ids handed out in order, and how
/// often each id has been dropped.
#[derive(Clone, Debug, Default)]
pub struct World {
    inner: Arc<WorldInner>,
}

#[derive(Debug, Default)]
struct WorldInner {
    next_id: AtomicU64,
    drops: Mutex<Drops>,
}

#[derive(Debug, Default)]
struct Drops {
    /// Drop count by id (ids are dense from 0).
    by_id: Vec<u32>,
    /// Order-insensitive summary of `by_id`: `(count, Σ id, Σ id²)`,
    /// wrapping. Cheap to compare after every step.
    fingerprint: (u64, u64, u64),
}

impl World {
    /// A new item with the next id.
    pub fn fresh(&self) -> Tracked {
        Tracked {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            resets: 0,
            world: self.clone(),
        }
    }

    /// Ids handed out so far (`0..created()`).
    pub fn created(&self) -> u64 {
        self.inner.next_id.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Drops> {
        self.inner
            .drops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Drop count by id, for every id handed out.
    pub fn drops(&self) -> Vec<u32> {
        let mut by_id = self.lock().by_id.clone();
        by_id.resize(self.created() as usize, 0);
        by_id
    }

    /// `(drops, Σ id, Σ id²)` over every drop so far: equal drop multisets
    /// give equal fingerprints (and [`drops`](Self::drops) is compared in
    /// full at the end of a case).
    pub fn fingerprint(&self) -> (u64, u64, u64) {
        self.lock().fingerprint
    }

    /// Number of drops so far.
    pub fn dropped(&self) -> u64 {
        self.fingerprint().0
    }

    /// Panics unless every id handed out was dropped exactly once.
    pub fn assert_each_dropped_once(&self) {
        let drops = self.drops();
        if let Some(id) = drops.iter().position(|&n| n != 1) {
            panic!("item {id} was dropped {} times, not once", drops[id]);
        }
    }
}

/// An item that records its drop in its [`World`]; `resets` counts the
/// reset hook's runs.
#[derive(Debug)]
pub struct Tracked {
    pub id: u64,
    pub resets: u32,
    world: World,
}

impl Tracked {
    /// What two implementations' items are compared by.
    pub fn snap(&self) -> Snap {
        (self.id, self.resets)
    }
}

/// `(id, resets)`.
pub type Snap = (u64, u32);

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut drops = self.world.lock();
        let index = self.id as usize;
        if drops.by_id.len() <= index {
            drops.by_id.resize(index + 1, 0);
        }
        drops.by_id[index] += 1;
        let fingerprint = &mut drops.fingerprint;
        fingerprint.0 += 1;
        fingerprint.1 = fingerprint.1.wrapping_add(self.id);
        fingerprint.2 = fingerprint.2.wrapping_add(self.id.wrapping_mul(self.id));
    }
}
