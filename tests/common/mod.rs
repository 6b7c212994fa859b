//! Shared test helpers: a value type whose drops are counted per id, so a
//! test can prove every object was dropped exactly once.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Scales an iteration count down under Miri, which runs ~1000x slower.
pub fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        (n / 200).max(4)
    } else {
        n
    }
}

/// Counts drops per id.
#[derive(Clone)]
pub struct DropLedger {
    drops: Arc<Vec<AtomicUsize>>,
}

impl DropLedger {
    pub fn new(ids: usize) -> Self {
        Self {
            drops: Arc::new((0..ids).map(|_| AtomicUsize::new(0)).collect()),
        }
    }

    pub fn item(&self, id: usize) -> Counted {
        Counted {
            id,
            ledger: self.clone(),
        }
    }

    pub fn drops(&self, id: usize) -> usize {
        self.drops[id].load(Ordering::SeqCst)
    }

    pub fn total_drops(&self) -> usize {
        self.drops.iter().map(|d| d.load(Ordering::SeqCst)).sum()
    }

    /// Panics unless every id was dropped exactly once.
    pub fn assert_each_dropped_once(&self) {
        for (id, d) in self.drops.iter().enumerate() {
            assert_eq!(
                d.load(Ordering::SeqCst),
                1,
                "item {id} dropped wrong number of times"
            );
        }
    }
}

/// A value whose drop is recorded in its ledger.
pub struct Counted {
    pub id: usize,
    ledger: DropLedger,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let previous = self.ledger.drops[self.id].fetch_add(1, Ordering::SeqCst);
        assert_eq!(previous, 0, "item {} dropped twice", self.id);
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counted({})", self.id)
    }
}
