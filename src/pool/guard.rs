//! Guards: an object on loan from a pool, put back when the guard drops.

use core::fmt;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::Pool;

/// An object on loan from a pool; puts itself back (with the reset hook)
/// when dropped. `P` is how the guard reaches its pool: a borrow
/// ([`PoolGuard`], from [`Pool::get_guard`]) or an `Arc` ([`OwnedPoolGuard`],
/// from [`Pool::get_owned`]), which makes the guard `'static` and lets it
/// move into a spawned thread or task.
#[must_use = "dropping the guard at once puts the object straight back"]
pub struct Guard<P: Deref<Target = Pool<T>>, T> {
    pool: P,
    value: ManuallyDrop<T>,
}

/// A guard that borrows its pool ([`Pool::get_guard`], [`Pool::guard`]).
pub type PoolGuard<'a, T> = Guard<&'a Pool<T>, T>;

/// A guard that holds its pool by `Arc` ([`Pool::get_owned`],
/// [`Pool::guard_owned`]): `'static`, and `Send` when `T` is.
///
/// ```
/// use std::sync::Arc;
/// use victim_pool::Pool;
///
/// let pool = Arc::new(Pool::new(|| Vec::<u8>::with_capacity(4096)));
/// let mut buf = pool.get_owned();
/// std::thread::spawn(move || {
///     buf.extend_from_slice(b"filled on another thread");
///     // `buf` goes back to the pool here.
/// })
/// .join()
/// .unwrap();
/// ```
pub type OwnedPoolGuard<T> = Guard<Arc<Pool<T>>, T>;

impl<P: Deref<Target = Pool<T>>, T> Guard<P, T> {
    pub(super) fn new(pool: P, value: T) -> Self {
        Self {
            pool,
            value: ManuallyDrop::new(value),
        }
    }

    /// Keeps the object instead of returning it to the pool.
    #[must_use = "the object is dropped if unused; drop the guard to return it instead"]
    pub fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so `value` is taken exactly once;
        // the pool handle is dropped in place once, below.
        let value = unsafe { ManuallyDrop::take(&mut this.value) };
        // SAFETY: `this.pool` is initialised, never used again, and `this`
        // is never dropped as a whole.
        unsafe { core::ptr::drop_in_place(&mut this.pool) };
        value
    }

    /// The pool the object goes back to.
    pub fn pool(&self) -> &Pool<T> {
        &self.pool
    }
}

impl<P: Deref<Target = Pool<T>>, T> Deref for Guard<P, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<P: Deref<Target = Pool<T>>, T> DerefMut for Guard<P, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<P: Deref<Target = Pool<T>>, T> Drop for Guard<P, T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and `into_inner` forgets `self`, so the
        // value is taken exactly once.
        let value = unsafe { ManuallyDrop::take(&mut self.value) };
        self.pool.put(value);
    }
}

impl<P: Deref<Target = Pool<T>>, T: fmt::Debug> fmt::Debug for Guard<P, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Guard").field(&*self.value).finish()
    }
}
