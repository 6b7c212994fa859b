//! The specification of `victim_pool::dequeue::PoolDequeue` (Go's
//! `poolDequeue`): a bounded deque with one producer at the head and any
//! number of consumers at the tail.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Largest capacity, as in `victim_pool::dequeue::MAX_CAPACITY`.
pub const MAX_CAPACITY: usize = 1 << 30;

/// The specification of a fixed-capacity single-producer / multi-consumer
/// deque.
///
/// - [`Producer::push_head`] adds the newest item, or hands it back as
///   `Err` when the deque holds `capacity` items ("full").
/// - [`Producer::pop_head`] removes the newest item.
/// - [`Stealer::pop_tail`] removes the oldest item.
///
/// The start index of [`with_start_index`](Self::with_start_index) has no
/// observable effect: the lock-free ring numbers its slots modulo 2^32, and
/// must behave the same whether or not a history crosses 2^32.
///
/// # Allowed concurrent divergences
///
/// The lock-free ring is meant to be linearizable with respect to this
/// specification (each operation takes effect at one instant during the
/// call), except:
///
/// 1. **`push_head` may report full early.** A consumer that has won an
///    item but not yet finished moving it out still occupies that item's
///    slot. A push that needs such a slot returns `Err` although the deque
///    counts fewer than `capacity` items — possibly several fewer: every
///    consumer that won an item and has not yet returned from `pop_tail`
///    may still hold its slot, and after `pop_head`s the slot the next push
///    needs can be the one of any of them, not only the oldest. So a push
///    may report full whenever the deque holds `capacity` items *or* some
///    consumer that took an item has not yet returned; it succeeds again
///    once the consumer holding the slot it needs returns.
#[derive(Debug)]
pub struct PoolDequeue<T> {
    _items: PhantomData<T>,
}

/// The shared state: the items, oldest at the front.
struct Ring<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    start: u32,
}

impl<T> Ring<T> {
    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> PoolDequeue<T> {
    /// A deque of `capacity` items, as its producer and consumer handles.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero, not a power of two, or above [`MAX_CAPACITY`]
    /// (the lock-free ring's slot arithmetic needs that).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(capacity: usize) -> (Producer<T>, Stealer<T>) {
        Self::with_start_index(capacity, 0)
    }

    /// Like [`new`](Self::new); `start` is where the lock-free ring starts
    /// numbering and is only recorded here (see the type's docs).
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    pub fn with_start_index(capacity: usize, start: u32) -> (Producer<T>, Stealer<T>) {
        assert!(
            capacity.is_power_of_two() && capacity <= MAX_CAPACITY,
            "PoolDequeue capacity must be a power of two between 1 and {MAX_CAPACITY}, got {capacity}"
        );
        let ring = Arc::new(Ring {
            items: Mutex::new(VecDeque::new()),
            capacity,
            start,
        });
        (
            Producer {
                ring: ring.clone(),
                _not_sync: PhantomData,
            },
            Stealer { ring },
        )
    }
}

/// The single producer: pushes and pops at the head. `Send`, not `Sync`.
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// One producer per deque, as in the lock-free type.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl<T> Producer<T> {
    /// Adds `item` as the newest; `Err(item)` if the deque is full.
    pub fn push_head(&mut self, item: T) -> Result<(), T> {
        let mut items = self.ring.lock();
        if items.len() == self.ring.capacity {
            return Err(item);
        }
        items.push_back(item);
        Ok(())
    }

    /// Removes the newest item.
    pub fn pop_head(&mut self) -> Option<T> {
        self.ring.lock().pop_back()
    }

    /// A new consumer handle for the same deque.
    pub fn stealer(&self) -> Stealer<T> {
        Stealer {
            ring: self.ring.clone(),
        }
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.ring.capacity
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("reference::dequeue::Producer")
            .field("capacity", &self.ring.capacity)
            .field("start", &self.ring.start)
            .field("len", &self.ring.lock().len())
            .finish()
    }
}

/// A consumer: pops at the tail. Clone and share it freely.
pub struct Stealer<T> {
    ring: Arc<Ring<T>>,
}

impl<T> Stealer<T> {
    /// Removes the oldest item.
    pub fn pop_tail(&self) -> Option<T> {
        self.ring.lock().pop_front()
    }
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
        }
    }
}

impl<T> fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("reference::dequeue::Stealer")
            .finish_non_exhaustive()
    }
}
