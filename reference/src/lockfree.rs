//! The lock-free crate's types implement the [`api`](crate::api) traits by
//! delegating to their inherent methods, so generic tests run against them
//! unchanged.

use victim_pool::{chain, dequeue, Pool, PoolGuard};

use crate::api::{BoundedProducer, Guard, SlotPool, TailStealer, UnboundedProducer};
use crate::PoolBuilder;

impl<T: Send + 'static> SlotPool<T> for Pool<T> {
    type Guard<'a> = PoolGuard<'a, T>;

    fn from_builder(builder: PoolBuilder<T>) -> Self {
        builder.into_lock_free().build()
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
        self.local().slot()
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
        victim_pool::cleanup_all();
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
