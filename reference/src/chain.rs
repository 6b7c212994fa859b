//! The specification of `victim_pool::chain::PoolChain` (Go's `poolChain`):
//! an unbounded deque with one producer at the head and any number of
//! consumers at the tail.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The specification of an unbounded single-producer / multi-consumer
/// deque.
///
/// - [`Producer::push_head`] adds the newest item; it never fails.
/// - [`Producer::pop_head`] removes the newest item.
/// - [`Stealer::pop_tail`] removes the oldest item.
/// - [`Producer::len`] is the number of items.
///
/// The lock-free chain's segments (8 slots, doubling up to 2^30) are not
/// observable here: an item's position in the deque does not depend on which
/// segment holds it.
///
/// # Allowed concurrent divergences
///
/// The lock-free chain is meant to be linearizable with respect to this
/// specification (each operation takes effect at one instant during the
/// call), except:
///
/// 1. **`len` is a snapshot, not an instant.** It sums the segments one by
///    one while consumers may be popping, so it may count an item that a
///    consumer removes during the call (never one that was not there: only
///    the producer, which is the caller, adds items).
///
/// A segment that reports "full" early (see
/// [`PoolDequeue`](crate::dequeue::PoolDequeue#allowed-concurrent-divergences))
/// only makes the chain start its next segment sooner; no push fails.
#[derive(Debug)]
pub struct PoolChain<T> {
    _items: PhantomData<T>,
}

impl<T> PoolChain<T> {
    /// An empty chain, as its producer and consumer handles.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (Producer<T>, Stealer<T>) {
        let items = Arc::new(Mutex::new(VecDeque::new()));
        (
            Producer {
                items: items.clone(),
                _not_sync: PhantomData,
            },
            Stealer { items },
        )
    }
}

/// Items, oldest at the front.
type Items<T> = Arc<Mutex<VecDeque<T>>>;

fn lock<T>(items: &Items<T>) -> MutexGuard<'_, VecDeque<T>> {
    items.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The single producer: pushes and pops at the head. `Send`, not `Sync`.
pub struct Producer<T> {
    items: Items<T>,
    /// One producer per chain, as in the lock-free type.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl<T> Producer<T> {
    /// Adds `item` as the newest.
    pub fn push_head(&mut self, item: T) {
        lock(&self.items).push_back(item);
    }

    /// Removes the newest item.
    pub fn pop_head(&mut self) -> Option<T> {
        lock(&self.items).pop_back()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    /// True when [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new consumer handle for the same chain.
    pub fn stealer(&self) -> Stealer<T> {
        Stealer {
            items: self.items.clone(),
        }
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("reference::chain::Producer")
            .field("len", &self.len())
            .finish()
    }
}

/// A consumer: pops at the tail. Clone and share it freely.
pub struct Stealer<T> {
    items: Items<T>,
}

impl<T> Stealer<T> {
    /// Removes the oldest item.
    pub fn pop_tail(&self) -> Option<T> {
        lock(&self.items).pop_front()
    }
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
        }
    }
}

impl<T> fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("reference::chain::Stealer")
            .finish_non_exhaustive()
    }
}
