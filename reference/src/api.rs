//! The operations both implementations offer, as traits: write a test, a
//! model or a benchmark once, generic over these, and run it against the
//! reference (`victim_pool_reference::Pool`, `dequeue`, `chain`) and the
//! lock-free crate (`victim_pool::Pool`, `dequeue`, `chain`).
//!
//! ```
//! use victim_pool_reference::api::SlotPool;
//!
//! fn put_then_get<P: SlotPool<u32>>() {
//!     let mut pool = P::from_builder(victim_pool_reference::Pool::builder());
//!     pool.put_as(3, 7);
//!     assert_eq!(pool.try_get_as(3), Some(7));
//!     assert_eq!(pool.try_get_as(3), None);
//! }
//! put_then_get::<victim_pool_reference::Pool<u32>>();
//! put_then_get::<victim_pool::Pool<u32>>();
//! ```

use std::ops::DerefMut;

use crate::PoolBuilder;

/// A pool with explicit slot identity: Go's `sync.Pool` operations, either as
/// the calling thread's slot (`get`, `put`, …) or as an explicit slot
/// (`get_as`, `put_as`, …) so that one thread can replay a history of
/// `(slot, operation)` pairs deterministically.
///
/// The semantics are those of [`crate::Pool`].
pub trait SlotPool<T: Send + 'static>: Sized + Sync {
    /// The guard returned by [`get_guard`](Self::get_guard).
    type Guard<'a>: Guard<T>
    where
        Self: 'a;

    /// Builds a pool with the configuration in `builder`.
    fn from_builder(builder: PoolBuilder<T>) -> Self;

    /// Get as the calling thread's slot; New on a miss.
    ///
    /// # Panics
    ///
    /// On a miss, if the pool has no New.
    fn get(&self) -> T;

    /// Get as the calling thread's slot, without New.
    fn try_get(&self) -> Option<T>;

    /// Put as the calling thread's slot.
    fn put(&self, item: T);

    /// [`get`](Self::get), in a guard that puts the item back (as the
    /// dropping thread's slot) on drop.
    fn get_guard(&self) -> Self::Guard<'_>;

    /// The slot the calling thread's operations act as.
    fn current_slot(&self) -> usize;

    /// Get as slot `slot`; New on a miss.
    ///
    /// # Panics
    ///
    /// On a miss, if the pool has no New; if `slot` is out of the
    /// implementation's range (`victim_pool::MAX_SIMULATED_SLOT`).
    fn get_as(&mut self, slot: usize) -> T;

    /// Get as slot `slot`, without New.
    fn try_get_as(&mut self, slot: usize) -> Option<T>;

    /// Put as slot `slot`.
    fn put_as(&mut self, slot: usize, item: T);

    /// One cleanup cycle of this pool.
    fn cleanup(&self);

    /// One cleanup cycle of every live pool of this implementation.
    fn cleanup_all();
}

/// An item on loan from a pool; returned to it on drop.
pub trait Guard<T>: DerefMut<Target = T> {
    /// Keeps the item instead of returning it.
    fn into_inner(self) -> T;
}

/// The producer side of a bounded single-producer / multi-consumer deque
/// (semantics: [`crate::dequeue::PoolDequeue`]).
pub trait BoundedProducer<T>: Send {
    /// Adds the newest item; `Err(item)` when full.
    fn push_head(&mut self, item: T) -> Result<(), T>;
    /// Removes the newest item.
    fn pop_head(&mut self) -> Option<T>;
}

/// The producer side of an unbounded single-producer / multi-consumer deque
/// (semantics: [`crate::chain::PoolChain`]).
pub trait UnboundedProducer<T>: Send {
    /// Adds the newest item.
    fn push_head(&mut self, item: T);
    /// Removes the newest item.
    fn pop_head(&mut self) -> Option<T>;
    /// Number of items.
    fn len(&self) -> usize;
    /// True when [`len`](Self::len) is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The consumer side of either deque: takes the oldest item.
pub trait TailStealer<T>: Clone + Send + Sync {
    /// Removes the oldest item.
    fn pop_tail(&self) -> Option<T>;
}

/// The reference implements the traits by delegating to its inherent
/// methods.
mod reference_impls {
    use super::*;
    use crate::{chain, dequeue, Pool, PoolGuard};

    impl<T: Send + 'static> SlotPool<T> for Pool<T> {
        type Guard<'a> = PoolGuard<'a, T>;

        fn from_builder(builder: PoolBuilder<T>) -> Self {
            builder.build()
        }
        fn get(&self) -> T {
            Pool::get(self)
        }
        fn try_get(&self) -> Option<T> {
            Pool::try_get(self)
        }
        fn put(&self, item: T) {
            Pool::put(self, item);
        }
        fn get_guard(&self) -> PoolGuard<'_, T> {
            Pool::get_guard(self)
        }
        fn current_slot(&self) -> usize {
            crate::current_slot()
        }
        fn get_as(&mut self, slot: usize) -> T {
            self.as_slot(slot).get()
        }
        fn try_get_as(&mut self, slot: usize) -> Option<T> {
            self.as_slot(slot).try_get()
        }
        fn put_as(&mut self, slot: usize, item: T) {
            self.as_slot(slot).put(item);
        }
        fn cleanup(&self) {
            Pool::cleanup(self);
        }
        fn cleanup_all() {
            crate::cleanup_all();
        }
    }

    impl<T> Guard<T> for PoolGuard<'_, T> {
        fn into_inner(self) -> T {
            PoolGuard::into_inner(self)
        }
    }

    impl<T: Send> BoundedProducer<T> for dequeue::Producer<T> {
        fn push_head(&mut self, item: T) -> Result<(), T> {
            dequeue::Producer::push_head(self, item)
        }
        fn pop_head(&mut self) -> Option<T> {
            dequeue::Producer::pop_head(self)
        }
    }

    impl<T: Send> TailStealer<T> for dequeue::Stealer<T> {
        fn pop_tail(&self) -> Option<T> {
            dequeue::Stealer::pop_tail(self)
        }
    }

    impl<T: Send> UnboundedProducer<T> for chain::Producer<T> {
        fn push_head(&mut self, item: T) {
            chain::Producer::push_head(self, item);
        }
        fn pop_head(&mut self) -> Option<T> {
            chain::Producer::pop_head(self)
        }
        fn len(&self) -> usize {
            chain::Producer::len(self)
        }
    }

    impl<T: Send> TailStealer<T> for chain::Stealer<T> {
        fn pop_tail(&self) -> Option<T> {
            chain::Stealer::pop_tail(self)
        }
    }
}
