//! `PoolDequeue`: a fixed-size, lock-free, single-producer / multi-consumer
//! ring (Go's `poolDequeue`).
//!
//! The producer pushes and pops at the *head*; any number of consumers pop at
//! the *tail*. Both indices live in one `AtomicU64` so that "is it empty?" and
//! "take this index" are a single compare-and-swap.
//!
//! ```text
//!  head_tail:  [ head: u32 | tail: u32 ]
//!
//!        tail                     head
//!         v                        v
//!  ... | T | T | T | T | - | - | - | ...      slot = index & (capacity - 1)
//!       \_______________/
//!        [tail, head): owned by consumers until a consumer wins the slot's
//!        tail CAS, moves the value out and clears `occupied` (Release);
//!        only then may the producer write the slot again.
//! ```
//!
//! **typ-then-val release.** A slot is free for the producer only when its
//! `occupied` tag is clear. A consumer that wins index `t` first moves the
//! value out and only then clears the tag with a `Release` store; the
//! producer `Acquire`-loads the tag before writing. So the producer's write of
//! the next value happens-after the consumer's read of the previous one, even
//! though `head_tail` already said the slot was free.

use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr;

use crate::sync::{invariant, Arc, AtomicBool, AtomicU64, Ordering, UnsafeCell};

/// Largest capacity a dequeue accepts (Go's `dequeueLimit`): a quarter of the
/// 32-bit index space, so `head - tail` can never be confused across
/// wraparound.
pub const MAX_CAPACITY: usize = 1 << 30;

const INDEX_BITS: u32 = 32;

/// The value `take` moved into the place it was given, if it says it did
/// (the `Option` face of the `*_into` pops).
///
/// # Safety
///
/// `take` returns true only when it wrote a `T` into that place.
pub(crate) unsafe fn moved_out<T>(take: impl FnOnce(*mut T) -> bool) -> Option<T> {
    let mut value = MaybeUninit::uninit();
    // SAFETY: a true `take` wrote a `T` there (our contract).
    take(value.as_mut_ptr()).then(|| unsafe { value.assume_init() })
}

fn pack(head: u32, tail: u32) -> u64 {
    (u64::from(head) << INDEX_BITS) | u64::from(tail)
}

fn unpack(head_tail: u64) -> (u32, u32) {
    ((head_tail >> INDEX_BITS) as u32, head_tail as u32)
}

struct Slot<T> {
    /// The slot's occupancy tag (Go's `typ`). Set by the producer before it
    /// publishes the slot; cleared by whoever took the value: a consumer with
    /// a `Release` store after moving the value out (read by the producer's
    /// `Acquire` load in `push_head`), or the producer itself in `pop_head`.
    occupied: AtomicBool,
    /// The value. Written only by the producer while `occupied` is clear;
    /// read (moved out) only by the one thread that won its index, either
    /// the producer's head CAS or a consumer's tail CAS.
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A fixed-capacity, lock-free single-producer / multi-consumer ring.
///
/// Create one with [`PoolDequeue::new`]; it is used through the
/// [`Producer`] / [`Stealer`] pair, which puts the roles in the types.
pub struct PoolDequeue<T> {
    /// `head` (high 32 bits): the next index the producer writes; only the
    /// producer moves it (`fetch_add` in `push_head`, CAS in `pop_head`).
    /// `tail` (low 32 bits): the oldest index still owned by consumers; only
    /// consumers move it (CAS in `pop_tail`). Everyone reads both.
    head_tail: AtomicU64,
    slots: Box<[Slot<T>]>,
}

// SAFETY: values of `T` move between threads through the slots (hence
// `T: Send`), and the protocol above gives each slot's `UnsafeCell` one owner
// at a time, so sharing the ring is sound for `T: Send`.
unsafe impl<T: Send> Send for PoolDequeue<T> {}
// SAFETY: see `Send`; `&PoolDequeue` only hands out values by moving them
// out of exclusively won slots, never `&T`.
unsafe impl<T: Send> Sync for PoolDequeue<T> {}

impl<T> PoolDequeue<T> {
    /// Creates a ring of `capacity` slots and returns its producer and
    /// consumer handles.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero, not a power of two, or above [`MAX_CAPACITY`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new(capacity: usize) -> (Producer<T>, Stealer<T>) {
        Self::with_start_index(capacity, 0)
    }

    /// Like [`new`](Self::new), with head and tail both starting at `start`
    /// (Go's tests start 500 below 2^32 so every run crosses wraparound).
    ///
    /// # Panics
    ///
    /// If `capacity` is zero, not a power of two, or above [`MAX_CAPACITY`].
    pub fn with_start_index(capacity: usize, start: u32) -> (Producer<T>, Stealer<T>) {
        let ring = Arc::new(Self::ring(capacity, start));
        (
            Producer {
                ring: ring.clone(),
                _not_sync: PhantomData,
            },
            Stealer { ring },
        )
    }

    pub(crate) fn ring(capacity: usize, start: u32) -> Self {
        assert!(
            capacity.is_power_of_two() && capacity <= MAX_CAPACITY,
            "PoolDequeue capacity must be a power of two between 1 and {MAX_CAPACITY}, got {capacity}"
        );
        let slots = (0..capacity)
            .map(|_| Slot {
                occupied: AtomicBool::new(false),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Self {
            head_tail: AtomicU64::new(pack(start, start)),
            slots,
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Values between tail and head at the moment of the load; a snapshot
    /// under concurrency.
    pub(crate) fn len(&self) -> usize {
        let (head, tail) = unpack(self.head_tail.load(Ordering::Relaxed));
        head.wrapping_sub(tail) as usize
    }

    fn slot(&self, index: u32) -> &Slot<T> {
        // Capacity is a power of two no larger than 2^30, so the mask fits.
        &self.slots[index as usize & (self.slots.len() - 1)]
    }

    /// Adds `value` at the head; `Err(value)` if the ring is full.
    ///
    /// # Safety
    ///
    /// Only one thread may call `push_head` / `pop_head` on a ring at a time
    /// (the single producer).
    pub(crate) unsafe fn push_head(&self, value: T) -> Result<(), T> {
        // Only this thread moves `head`; a stale `tail` can only make the
        // ring look fuller than it is.
        let (head, tail) = unpack(self.head_tail.load(Ordering::Relaxed));
        if tail.wrapping_add(self.slots.len() as u32) == head {
            return Err(value);
        }
        let slot = self.slot(head);
        // Acquire pairs with the consumer's Release store of `occupied` in
        // `pop_tail`: once clear, that consumer's move-out happened-before
        // our write below. Still set means a consumer won this index but has
        // not finished moving the value out: report full, as Go does.
        #[cfg(not(any(
            victim_pool_mutant = "producer_skips_typ_check",
            victim_pool_mutant = "producer_typ_load_relaxed"
        )))]
        if slot.occupied.load(Ordering::Acquire) {
            return Err(value);
        }
        // MUTANT (verification/): the tag is read without Acquire.
        #[cfg(victim_pool_mutant = "producer_typ_load_relaxed")]
        if slot.occupied.load(Ordering::Relaxed) {
            return Err(value);
        }
        // MUTANT (verification/): trusts `head_tail` alone and never checks
        // the tag (`producer_skips_typ_check` compiles nothing here).
        slot.value.with_mut(|cell| {
            // SAFETY:
            // - `occupied` is clear and `head` is outside [tail, head), so no
            //   consumer can win this index until the `fetch_add` below;
            // - we are the single producer (caller's contract), so nobody
            //   else writes the slot.
            unsafe { (*cell).write(value) };
        });
        // Relaxed: published by the Release `fetch_add` that follows.
        slot.occupied.store(true, Ordering::Relaxed);
        // Release pairs with the Acquire CAS in `pop_tail` (and any later RMW
        // in `head_tail`'s release sequence): a consumer that wins this index
        // sees the value written above. Adding to the high half never
        // touches `tail`; head wraps at 2^32 by dropping the carry.
        #[cfg(not(victim_pool_mutant = "push_publish_relaxed"))]
        self.head_tail.fetch_add(1 << INDEX_BITS, Ordering::Release);
        // MUTANT (verification/): publishes the slot without Release.
        #[cfg(victim_pool_mutant = "push_publish_relaxed")]
        self.head_tail.fetch_add(1 << INDEX_BITS, Ordering::Relaxed);
        Ok(())
    }

    /// Removes the newest value, if any.
    ///
    /// # Safety
    ///
    /// Only one thread may call `push_head` / `pop_head` on a ring at a time
    /// (the single producer).
    pub(crate) unsafe fn pop_head(&self) -> Option<T> {
        // SAFETY: single producer (our contract); `pop_head_into` returns true
        // only when it moved a value into the place it is given.
        unsafe { crate::dequeue::moved_out(|out| self.pop_head_into(out)) }
    }

    /// [`pop_head`](Self::pop_head), moving the value into `*out` (memory to
    /// memory, so a 24-byte item is copied in the same pieces as every other
    /// copy of it: DESIGN.md §5.2); true if it did.
    ///
    /// # Safety
    ///
    /// As [`pop_head`](Self::pop_head), and `out` is valid for a write of `T`
    /// (whatever it holds is overwritten, not dropped).
    pub(crate) unsafe fn pop_head_into(&self, out: *mut T) -> bool {
        let mut head_tail = self.head_tail.load(Ordering::Relaxed);
        let index = loop {
            let (head, tail) = unpack(head_tail);
            if head == tail {
                return false;
            }
            let head = head.wrapping_sub(1);
            // The CAS only arbitrates the last value against `pop_tail`; the
            // slot was written by this same thread, so no ordering is needed.
            match self.head_tail.compare_exchange_weak(
                head_tail,
                pack(head, tail),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break head,
                Err(current) => head_tail = current,
            }
        };
        let slot = self.slot(index);
        invariant!(
            slot.occupied.load(Ordering::Relaxed),
            "the producer pops index {index}, whose slot is empty: its value was \
             already taken (a slot is taken once per push, DESIGN.md §2)"
        );
        slot.value.with(|cell| {
            // SAFETY:
            // - our CAS moved `head` below `index`, so no consumer can win it;
            // - the value was written by this thread's `push_head` of `index`
            //   and nobody has taken it (consumers only take below `head`);
            //   this copy is its one move out;
            // - `out` is valid for the write (caller's contract).
            unsafe { ptr::copy_nonoverlapping((*cell).as_ptr(), out, 1) };
        });
        // Only the producer reads the tag, and it is this thread.
        slot.occupied.store(false, Ordering::Relaxed);
        true
    }

    /// Removes the oldest value, if any. Any number of threads may call it.
    pub(crate) fn pop_tail(&self) -> Option<T> {
        // SAFETY: `pop_tail_into` returns true only when it moved a value into
        // the place it is given.
        unsafe { crate::dequeue::moved_out(|out| self.pop_tail_into(out)) }
    }

    /// [`pop_tail`](Self::pop_tail), moving the value into `*out`; true if
    /// it did.
    ///
    /// # Safety
    ///
    /// `out` is valid for a write of `T` (whatever it holds is overwritten,
    /// not dropped).
    pub(crate) unsafe fn pop_tail_into(&self, out: *mut T) -> bool {
        let mut head_tail = self.head_tail.load(Ordering::Relaxed);
        let index = loop {
            let (head, tail) = unpack(head_tail);
            if head == tail {
                return false;
            }
            // MUTANT (verification/): takes index `tail` with a plain store
            // instead of winning a CAS for it.
            #[cfg(victim_pool_mutant = "pop_tail_without_cas")]
            {
                self.head_tail
                    .store(pack(head, tail.wrapping_add(1)), Ordering::Relaxed);
                crate::sync::fence(Ordering::Acquire);
                break tail;
            }
            // Acquire on success pairs with the producer's Release
            // `fetch_add` in `push_head` that published index `tail`.
            #[allow(unreachable_code)]
            match self.head_tail.compare_exchange_weak(
                head_tail,
                pack(head, tail.wrapping_add(1)),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break tail,
                Err(current) => head_tail = current,
            }
        };
        let slot = self.slot(index);
        invariant!(
            slot.occupied.load(Ordering::Relaxed),
            "a consumer won index {index}, whose slot does not show the push that filled \
             it: the push was not published to it (Release/Acquire on `head_tail`), or \
             the value was already taken (a slot is taken once per push, DESIGN.md §2)"
        );
        // MUTANT (verification/): hands the slot back before reading it.
        #[cfg(victim_pool_mutant = "consumer_clears_typ_first")]
        slot.occupied.store(false, Ordering::Release);
        // typ-then-val: move the value out first ...
        slot.value.with(|cell| {
            // SAFETY:
            // - our CAS won `index`, so no other consumer and not the
            //   producer's `pop_head` will read it: this copy is its one
            //   move out;
            // - `occupied` is still set, so the producer will not overwrite
            //   it until our Release store below;
            // - the producer's write happened-before (Acquire CAS above);
            // - `out` is valid for the write (caller's contract).
            unsafe { ptr::copy_nonoverlapping((*cell).as_ptr(), out, 1) };
        });
        // ... then hand the slot back. Release pairs with the Acquire load in
        // `push_head`.
        #[cfg(not(any(
            victim_pool_mutant = "consumer_clears_typ_first",
            victim_pool_mutant = "consumer_typ_store_relaxed"
        )))]
        slot.occupied.store(false, Ordering::Release);
        // MUTANT (verification/): hands the slot back without Release.
        #[cfg(victim_pool_mutant = "consumer_typ_store_relaxed")]
        slot.occupied.store(false, Ordering::Relaxed);
        true
    }
}

impl<T> PoolDequeue<T> {
    /// Moves every value still in the ring out (exclusive access).
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let mut values = Vec::new();
        for slot in self.slots.iter() {
            // `&mut self`: no producer or consumer is left, and every
            // thread's last access happened-before (Arc / the caller).
            if slot.occupied.load(Ordering::Relaxed) {
                slot.occupied.store(false, Ordering::Relaxed);
                values.push(slot.value.with(|cell| {
                    // SAFETY:
                    // - `occupied` set means a pushed value that nobody took
                    //   (takers clear it after moving out), and we clear it
                    //   now, so it is moved out exactly once;
                    // - exclusive access (`&mut self`).
                    unsafe { (*cell).assume_init_read() }
                }));
            }
        }
        values
    }
}

/// A picture of a ring's state: its indices and what each slot holds
/// (`None` where the slot's `typ` tag is clear). See [`Pool::snapshot`].
///
/// [`Pool::snapshot`]: crate::Pool::snapshot
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingSnapshot<T> {
    /// The next index the producer writes.
    pub head: u32,
    /// The oldest index still owned by consumers.
    pub tail: u32,
    /// Slot `i` (index `& (capacity - 1)`): the value if occupied.
    pub slots: Vec<Option<T>>,
}

impl<T: Clone> PoolDequeue<T> {
    /// Copies the ring's state.
    ///
    /// # Safety
    ///
    /// No other thread may access the ring during the call.
    pub(crate) unsafe fn snapshot(&self) -> RingSnapshot<T> {
        let (head, tail) = unpack(self.head_tail.load(Ordering::Relaxed));
        let slots = self
            .slots
            .iter()
            .map(|slot| {
                slot.occupied.load(Ordering::Relaxed).then(|| {
                    slot.value.with(|cell| {
                        // SAFETY: `occupied` means an initialised value, and
                        // nobody else touches the ring (caller contract).
                        unsafe { (*cell).assume_init_ref().clone() }
                    })
                })
            })
            .collect();
        RingSnapshot { head, tail, slots }
    }
}

impl<T> Drop for PoolDequeue<T> {
    fn drop(&mut self) {
        // Under the checkers: from here on another thread's access to the
        // ring is a use after free (src/sync/trace.rs).
        #[cfg(any(loom, shuttle))]
        {
            self.head_tail.dying();
            for slot in self.slots.iter() {
                slot.occupied.dying();
                slot.value.dying();
            }
        }
        // Moved out first, dropped after: a panicking `T::drop` cannot stop
        // the others from being dropped (the `Vec` drops the rest).
        drop(self.take_all());
    }
}

impl<T> fmt::Debug for PoolDequeue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (head, tail) = unpack(self.head_tail.load(Ordering::Relaxed));
        f.debug_struct("PoolDequeue")
            .field("capacity", &self.capacity())
            .field("head", &head)
            .field("tail", &tail)
            .finish()
    }
}

/// The single producer of a [`PoolDequeue`]: pushes and pops at the head.
///
/// `Send` but not `Sync`, and its methods take `&mut self`: there is exactly
/// one producer, and the type system enforces it.
pub struct Producer<T> {
    ring: Arc<PoolDequeue<T>>,
    /// Makes the handle `!Sync` (the ring's protocol has one producer).
    _not_sync: PhantomData<core::cell::Cell<()>>,
}

impl<T> Producer<T> {
    /// Adds `value` at the head; returns it back as `Err` when the ring is
    /// full (including a slot a consumer has won but not yet released).
    pub fn push_head(&mut self, value: T) -> Result<(), T> {
        // SAFETY:
        // - `Producer` is the ring's only producer handle (never cloned,
        //   `!Sync`), and `&mut self` excludes concurrent calls through it.
        unsafe { self.ring.push_head(value) }
    }

    /// Removes the most recently pushed value still in the ring.
    pub fn pop_head(&mut self) -> Option<T> {
        // SAFETY: as in `push_head`: this is the single producer.
        unsafe { self.ring.pop_head() }
    }

    /// A new consumer handle for the same ring.
    pub fn stealer(&self) -> Stealer<T> {
        Stealer {
            ring: self.ring.clone(),
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Producer").field(&self.ring).finish()
    }
}

/// A consumer of a [`PoolDequeue`]: pops at the tail. Clone it freely and
/// share it between threads.
pub struct Stealer<T> {
    ring: Arc<PoolDequeue<T>>,
}

impl<T> Stealer<T> {
    /// Removes the oldest value in the ring, if any.
    pub fn pop_tail(&self) -> Option<T> {
        self.ring.pop_tail()
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
        f.debug_tuple("Stealer").field(&self.ring).finish()
    }
}
