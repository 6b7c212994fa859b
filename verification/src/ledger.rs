//! Items that count their own drops.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// Per-item drop counts, shared by every [`Tracked`] item of one test.
#[derive(Default)]
pub struct Ledger {
    drops: Mutex<BTreeMap<u64, u32>>,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("dropped", &self.drops().len())
            .finish()
    }
}

impl Ledger {
    /// A fresh ledger.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A new item with identity `id` (ids must be unique per ledger).
    pub fn item(self: &Arc<Self>, id: u64) -> Tracked {
        Tracked {
            id,
            canary: CANARY,
            ledger: self.clone(),
        }
    }

    /// How many times `id` has been dropped so far.
    pub fn drops_of(&self, id: u64) -> u32 {
        self.drops().get(&id).copied().unwrap_or(0)
    }

    /// Snapshot of every drop count.
    pub fn drops(&self) -> BTreeMap<u64, u32> {
        self.drops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Panics unless every id in `ids` was dropped exactly once and nothing
    /// else was dropped (no leak, no double drop, no fabricated item).
    pub fn assert_each_dropped_once(&self, ids: impl IntoIterator<Item = u64>) {
        let drops = self.drops();
        let mut expected: Vec<u64> = ids.into_iter().collect();
        expected.sort_unstable();
        for &id in &expected {
            assert_eq!(
                drops.get(&id).copied().unwrap_or(0),
                1,
                "item {id} must be dropped exactly once (0 = leaked, 2+ = double drop); drops: {drops:?}"
            );
        }
        for id in drops.keys() {
            assert!(
                expected.binary_search(id).is_ok(),
                "item {id} was dropped but never created"
            );
        }
    }
}

const CANARY: u64 = 0x5afe_c0de_5afe_c0de;
const POISON: u64 = 0xdead_dead_dead_dead;

/// A pooled item that records its drop in a [`Ledger`] and poisons itself,
/// so an item read back out of memory it was dropped in is recognised.
pub struct Tracked {
    id: u64,
    canary: u64,
    ledger: Arc<Ledger>,
}

impl Tracked {
    /// This item's identity.
    ///
    /// # Panics
    ///
    /// If the item was already dropped (its canary is poisoned) or its
    /// ledger already counted a drop of it: a use-after-drop.
    pub fn id(&self) -> u64 {
        assert_eq!(
            self.canary, CANARY,
            "item read after it was dropped (poisoned canary)"
        );
        assert_eq!(
            self.ledger.drops_of(self.id),
            0,
            "item {} handed out after it was dropped",
            self.id
        );
        self.id
    }
}

impl Tracked {
    /// Like [`id`](Self::id), but reports a use-after-drop as an `Err`
    /// instead of panicking (for checks that run inside a `Drop`, where a
    /// panic during unwinding would abort).
    pub fn checked_id(&self) -> Result<u64, String> {
        if self.canary != CANARY {
            return Err(format!(
                "item {} read after it was dropped (poisoned canary)",
                self.id
            ));
        }
        match self.ledger.drops_of(self.id) {
            0 => Ok(self.id),
            n => Err(format!(
                "item {} in use after it was dropped {n} time(s)",
                self.id
            )),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut drops = self
            .ledger
            .drops
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *drops.entry(self.id).or_insert(0) += 1;
        self.canary = POISON;
    }
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tracked({})", self.id)
    }
}
