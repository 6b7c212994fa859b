//! `PoolChain`: an unbounded single-producer / multi-consumer deque made of
//! [`PoolDequeue`] segments (Go's `poolChain`).
//!
//! ```text
//!   tail (consumers pop here)                     head (producer pushes here)
//!    v                                              v
//!  [seg 8] --next--> [seg 16] --next--> ... --next--> [seg 2^k]
//!          <--prev--           <--prev--
//! ```
//!
//! The first segment has 8 slots and each new head segment doubles the last,
//! up to 2^30. Consumers unlink drained tail segments; the producer walks back
//! through `prev` when its head segment is empty.
//!
//! # Reclamation without a garbage collector
//!
//! An unlinked segment may still be read by a consumer that loaded `tail`
//! just before the unlink (Go relies on its GC here). Only the producer frees
//! segments, and only when no consumer can hold one:
//!
//! - every consumer brackets `pop_tail` with `stealers += 1 (Acquire)` …
//!   `stealers -= 1 (Release)`;
//! - the producer loads `tail` (Acquire) and, if it then reads
//!   `stealers == 0` (Acquire), frees every segment older than the `tail`
//!   it loaded.
//!
//! No fence: every write of `stealers` is a read-modify-write, so the
//! counter is one release sequence. The producer's load sees the increment
//! of the consumer whose CAS set the `tail` it loaded (that increment
//! happened-before); a consumer whose increment comes later in the counter's
//! order read that unlinker's decrement or a later value, so it synchronises
//! with it and loads that `tail` or a newer one; a consumer whose increment
//! comes earlier is counted until its decrement, which the producer then
//! synchronises with. DESIGN.md §4 gives the full argument.
//!
//! # Inside a pool: kept until the chain goes
//!
//! That bracket costs every consumer two read-modify-writes on a line the
//! producer's `reclaim` reads. A pool does not need it:
//! its consumers only touch a chain while pinned, and it frees a chain only
//! after a grace period of those pins (DESIGN.md §6.2). So a
//! `PooledChain` (`KEEP_UNLINKED = true`) has consumers that announce
//! nothing and a producer that frees no segment: unlinked segments stay
//! allocated until the whole chain is dropped, which the pool does only once
//! no pinned operation can hold it. The price is memory: a chain allocates a
//! new segment only when its head is full, at twice the head's size, so the
//! segments one chain ever allocates hold at most twice the largest
//! capacity it reached (DESIGN.md §4.1).

use core::fmt;
use core::marker::PhantomData;
use core::ptr;

use crate::dequeue::{PoolDequeue, RingSnapshot};
use crate::sync::{
    before_chain_allocation, invariant, Arc, AtomicPtr, AtomicUsize, Lifecycle, Ordering,
    UnsafeCell, CHAIN_FIRST_SEGMENT, CHAIN_SEGMENT_LIMIT,
};

struct Segment<T> {
    ring: PoolDequeue<T>,
    /// The next (newer) segment. Written once by the producer when it links
    /// a new head (Release); read by consumers in `pop_tail` (Acquire).
    next: AtomicPtr<Segment<T>>,
    /// The previous (older) segment. Set by the producer before the segment
    /// is published; cleared by the consumer that unlinks that older
    /// segment; read by the producer in `pop_head`.
    prev: AtomicPtr<Segment<T>>,
    /// Its allocation and free as loom sees them: touched by consumers,
    /// retired by whoever frees it.
    life: Lifecycle,
}

impl<T> Segment<T> {
    fn allocate(capacity: usize, prev: *mut Segment<T>) -> *mut Segment<T> {
        before_chain_allocation();
        Box::into_raw(Box::new(Segment {
            ring: PoolDequeue::ring(capacity, 0),
            next: AtomicPtr::new(ptr::null_mut()),
            prev: AtomicPtr::new(prev),
            life: Lifecycle::new(),
        }))
    }
}

/// Where a value waits while a chain makes room for it
/// ([`PoolChain::push_head_from`]).
pub(crate) trait Carrier<T> {
    /// Takes the value out (`None` if there is none).
    fn take(&mut self) -> Option<T>;
    /// Puts a value taken with `take` back.
    fn put_back(&mut self, value: T);
}

impl<T> Carrier<T> for Option<T> {
    fn take(&mut self) -> Option<T> {
        Option::take(self)
    }

    fn put_back(&mut self, value: T) {
        *self = Some(value);
    }
}

/// The shared state of a chain; used through [`Producer`] / [`Stealer`], or
/// directly by the pool (which plays the producer role per thread, as a
/// `PooledChain`).
///
/// `KEEP_UNLINKED` chooses the reclamation (module docs): `false`, the
/// chain frees unlinked segments itself; `true`, it keeps them until it is
/// dropped, and whoever owns it must not drop it while a consumer may be
/// inside `pop_tail`.
pub struct PoolChain<T, const KEEP_UNLINKED: bool = false> {
    /// Newest segment (null before the first push). Producer only.
    head: UnsafeCell<*mut Segment<T>>,
    /// Oldest segment not yet freed: segments from here up to (excluding)
    /// `tail` are unlinked and waiting for [`reclaim`](Self::reclaim).
    /// Producer only (and `Drop`).
    oldest: UnsafeCell<*mut Segment<T>>,
    /// Oldest linked segment. Stored once by the producer (first push,
    /// Release); moved forward by consumers' CAS (Release); loaded by
    /// consumers and by the producer's `reclaim` (Acquire).
    tail: AtomicPtr<Segment<T>>,
    /// Consumers currently inside `pop_tail`. Incremented/decremented by
    /// consumers; read by the producer's `reclaim`. Unused when
    /// `KEEP_UNLINKED`.
    stealers: AtomicUsize,
    /// The chain's allocation and free as loom sees them: touched by every
    /// operation, retired by `Drop` (a pool frees a chain after a grace
    /// period: every operation that touched it must happen-before).
    life: Lifecycle,
}

/// A pool's chain: consumers announce nothing, and unlinked segments are
/// freed with the chain, after the pool's grace period (module docs).
pub(crate) type PooledChain<T> = PoolChain<T, true>;

// SAFETY: values of `T` cross threads through the segments (`T: Send`); the
// producer-only cells are touched by one thread at a time (the producer
// contract of the `unsafe fn`s below), and segments are freed only under the
// reclamation protocol described in the module docs.
unsafe impl<T: Send, const KEEP_UNLINKED: bool> Send for PoolChain<T, KEEP_UNLINKED> {}
// SAFETY: as for `Send`; shared access only moves values out.
unsafe impl<T: Send, const KEEP_UNLINKED: bool> Sync for PoolChain<T, KEEP_UNLINKED> {}

impl<T> PoolChain<T> {
    /// Creates an empty chain and returns its producer and consumer handles.
    /// No segment is allocated until the first push.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (Producer<T>, Stealer<T>) {
        let chain = Arc::new(Self::empty());
        (
            Producer {
                chain: chain.clone(),
                _not_sync: PhantomData,
            },
            Stealer { chain },
        )
    }
}

impl<T, const KEEP_UNLINKED: bool> PoolChain<T, KEEP_UNLINKED> {
    pub(crate) fn empty() -> Self {
        Self {
            head: UnsafeCell::new(ptr::null_mut()),
            oldest: UnsafeCell::new(ptr::null_mut()),
            tail: AtomicPtr::new(ptr::null_mut()),
            stealers: AtomicUsize::new(0),
            life: Lifecycle::new(),
        }
    }

    /// Adds `value` at the head, growing the chain when the head is full.
    ///
    /// # Safety
    ///
    /// Single producer: no other thread may run `push_head`, `pop_head`,
    /// `reclaim` or `len` on this chain concurrently.
    pub(crate) unsafe fn push_head(&self, value: T) {
        // SAFETY: forwarded (caller contract).
        unsafe { self.push_head_from(&mut Some(value)) }
    }

    /// Adds `value` to the head segment if it has room; `Err(value)` if
    /// the chain would have to grow (no head segment, or a full one). Never
    /// allocates, so it cannot unwind.
    ///
    /// # Safety
    ///
    /// Single producer (see [`push_head`](Self::push_head)).
    #[inline]
    pub(crate) unsafe fn push_head_in_place(&self, value: T) -> Result<(), T> {
        self.life.touch();
        // SAFETY: producer-only cell; we are the producer (caller contract).
        let head = self.head.with(|head| unsafe { *head });
        if head.is_null() {
            return Err(value);
        }
        // SAFETY:
        // - `head` is live: only the producer frees, and never the head;
        // - we are the ring's single producer.
        unsafe { (*head).ring.push_head(value) }
    }

    /// Moves the value in `carried` (if any) to the head, growing the chain
    /// when the head is full. The value leaves `carried` only once it has a
    /// slot: if allocating a new segment panics, it is back in `carried`
    /// (the pool drops it after the operation has ended).
    ///
    /// # Safety
    ///
    /// Single producer (see [`push_head`](Self::push_head)).
    pub(crate) unsafe fn push_head_from(&self, carried: &mut impl Carrier<T>) {
        let Some(value) = carried.take() else {
            return;
        };
        // SAFETY: single producer (caller contract).
        match unsafe { self.push_head_in_place(value) } {
            Ok(()) => return,
            Err(value) => carried.put_back(value),
        }
        // SAFETY: producer-only cell; we are the producer (caller contract).
        let head = self.head.with(|head| unsafe { *head });
        let capacity = if head.is_null() {
            CHAIN_FIRST_SEGMENT
        } else {
            // SAFETY: `head` is live (see above).
            let previous = unsafe { (*head).ring.capacity() };
            (previous * 2).min(CHAIN_SEGMENT_LIMIT)
        };
        // May panic (fault injection); the value is still in `carried`.
        let segment = Segment::allocate(capacity, head);
        if let Some(value) = carried.take() {
            // SAFETY:
            // - `segment` is fresh and unpublished: we are its only user.
            let pushed = unsafe { (*segment).ring.push_head(value) };
            debug_assert!(pushed.is_ok(), "a fresh segment has room");
        }
        // SAFETY: producer-only cells (caller contract).
        self.head.with_mut(|h| unsafe { *h = segment });
        if head.is_null() {
            // SAFETY: producer-only cell (caller contract).
            self.oldest.with_mut(|oldest| unsafe { *oldest = segment });
            // Release pairs with the Acquire loads of `tail` in `pop_tail`
            // and `reclaim`: the segment's initialisation is visible.
            self.tail.store(segment, Ordering::Release);
        } else {
            // Release pairs with the Acquire load of `next` in `pop_tail`.
            // SAFETY: `head` is live (see above).
            unsafe { (*head).next.store(segment, Ordering::Release) };
            // A growth is rare and already allocates: a good moment to free
            // what consumers have unlinked.
            // SAFETY: we are the producer (caller contract).
            unsafe { self.reclaim() };
        }
    }

    /// Removes the most recently pushed value, walking back through older
    /// segments when the newer ones are empty.
    ///
    /// # Safety
    ///
    /// Single producer (see [`push_head`](Self::push_head)).
    pub(crate) unsafe fn pop_head(&self) -> Option<T> {
        // SAFETY: single producer (our contract); `pop_head_into` returns true
        // only when it moved a value into the place it is given.
        unsafe { crate::dequeue::moved_out(|out| self.pop_head_into(out)) }
    }

    /// [`pop_head`](Self::pop_head), moving the value into `*out`
    /// (`PoolDequeue::pop_head_into`); true if it did.
    ///
    /// # Safety
    ///
    /// Single producer, and `out` is valid for a write of `T` (whatever it
    /// holds is overwritten, not dropped).
    pub(crate) unsafe fn pop_head_into(&self, out: *mut T) -> bool {
        self.life.touch();
        // SAFETY: producer-only cell; we are the producer.
        let head = self.head.with(|head| unsafe { *head });
        let mut segment = head;
        while !segment.is_null() {
            // SAFETY:
            // - `segment` is live: it is the head, or was reached through a
            //   `prev` that was still set, and only this thread frees
            //   segments, after the unlinking consumer's clearing of that
            //   `prev` happened-before (see `reclaim`);
            // - we are the ring's single producer; `out` is writable.
            if unsafe { (*segment).ring.pop_head_into(out) } {
                return true;
            }
            // Relaxed: the pointee is kept alive by the argument above; we
            // only need some value of `prev`, and a stale one is still live.
            // SAFETY: `segment` is live (see above).
            segment = unsafe { (*segment).prev.load(Ordering::Relaxed) };
        }
        // Empty. Unlink drained older segments ourselves and free them, so a
        // drained chain shrinks to its head segment without waiting for a
        // consumer to pass by.
        if head.is_null() {
            return false;
        }
        // SAFETY: `out` is writable (caller's contract).
        let stolen =
            self.tail.load(Ordering::Relaxed) != head && unsafe { self.pop_tail_into(out) };
        debug_assert!(!stolen, "pop_head saw every segment empty");
        // SAFETY: we are the producer (caller contract).
        unsafe { self.reclaim() };
        stolen
    }

    /// Removes the oldest value. Any number of threads may call it.
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
        self.life.touch();
        if KEEP_UNLINKED {
            // No segment is freed before the chain itself, which outlives
            // `&self`: nothing to announce.
            // SAFETY: `out` is writable (our contract).
            return unsafe { self.pop_oldest_into(out) };
        }
        // Announce ourselves before touching any segment. Acquire: if this
        // increment reads an unlinker's decrement (or anything after it in
        // the counter's release sequence of read-modify-writes), its unlink
        // happened-before our `tail` load, so we cannot load a segment
        // `reclaim` may free (module docs: no fence is needed).
        self.stealers.fetch_add(1, Ordering::Acquire);
        // SAFETY: `out` is writable (our contract).
        let taken = unsafe { self.pop_oldest_into(out) };
        // Release pairs with the Acquire load in `reclaim`: our reads of any
        // segment happen-before the producer frees it.
        self.stealers.fetch_sub(1, Ordering::Release);
        taken
    }

    /// The walk of `pop_tail_into` from the tail segment on.
    ///
    /// # Safety
    ///
    /// As [`pop_tail_into`](Self::pop_tail_into).
    unsafe fn pop_oldest_into(&self, out: *mut T) -> bool {
        // Acquire pairs with the Release store/CAS that installed it.
        let mut segment = self.tail.load(Ordering::Acquire);
        while !segment.is_null() {
            // Load `next` *before* popping: if the pop then finds the segment
            // empty, no push can have landed in it since (pushes go to the
            // head, and `segment` already had a newer one), so it is safe to
            // drop it from the chain. Acquire pairs with the Release store in
            // `push_head`.
            // SAFETY: `segment` was reachable from `tail` after we announced
            // ourselves, so `reclaim` cannot free it until we leave (or,
            // `KEEP_UNLINKED`, nothing frees it before the chain, which
            // outlives `&self`).
            unsafe { (*segment).life.touch() };
            // SAFETY: as above.
            #[cfg(not(victim_pool_mutant = "chain_next_after_pop"))]
            let next = unsafe { (*segment).next.load(Ordering::Acquire) };
            // SAFETY: as above; `out` is writable (our contract).
            if unsafe { (*segment).ring.pop_tail_into(out) } {
                return true;
            }
            // MUTANT (verification/): `next` loaded after the pop.
            // SAFETY: as above.
            #[cfg(victim_pool_mutant = "chain_next_after_pop")]
            let next = unsafe { (*segment).next.load(Ordering::Acquire) };
            if next.is_null() {
                return false;
            }
            // Drained: try to unlink it so later pops skip it. Release pairs
            // with the Acquire loads of `tail` (here and in `reclaim`).
            if self
                .tail
                .compare_exchange(segment, next, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                // We won the unlink: stop `pop_head` from backing up into the
                // unlinked segment.
                // SAFETY: `next` is now the tail, hence live (see above).
                unsafe { (*next).prev.store(ptr::null_mut(), Ordering::Relaxed) };
            }
            segment = next;
        }
        false
    }

    /// Frees every segment that consumers have unlinked, if no consumer is
    /// inside `pop_tail`; with `KEEP_UNLINKED`, nothing (they go with the
    /// chain).
    ///
    /// # Safety
    ///
    /// Single producer (see [`push_head`](Self::push_head)).
    pub(crate) unsafe fn reclaim(&self) {
        // MUTANT (verification/) `pooled_chain_frees_unlinked`: a pool's
        // chain frees unlinked segments at once, while thieves that announce
        // nothing may still be reading them.
        if KEEP_UNLINKED && !cfg!(victim_pool_mutant = "pooled_chain_frees_unlinked") {
            return;
        }
        // SAFETY: producer-only cell; we are the producer.
        let oldest = self.oldest.with(|oldest| unsafe { *oldest });
        // Acquire pairs with the unlinking consumer's Release CAS: its
        // increment of `stealers` happened-before, so the load below reads
        // it or a later value of the counter (module docs).
        let tail = self.tail.load(Ordering::Acquire);
        if oldest == tail {
            return;
        }
        // Acquire pairs with the consumers' Release decrements: their reads
        // of the segments we free (and the `prev` clearing) happen-before.
        // MUTANT (verification/) `free_unlinked_immediately`: frees unlinked
        // segments without waiting for the consumers inside `pop_tail`.
        if !KEEP_UNLINKED
            && self.stealers.load(Ordering::Acquire) != 0
            && !cfg!(victim_pool_mutant = "free_unlinked_immediately")
        {
            return;
        }
        // SAFETY: `tail` is linked, hence live (only this thread frees).
        let tail_prev = unsafe { (*tail).prev.load(Ordering::Relaxed) };
        invariant!(
            tail_prev.is_null(),
            "the producer frees the segments before `tail` while `tail` still links \
             back to one (its unlinker's `prev = null` must happen-before the free, \
             or `pop_head` walks into freed memory: DESIGN.md §4)"
        );
        let mut segment = oldest;
        while segment != tail {
            // SAFETY:
            // - `segment` lies before `tail`: unlinked, and no consumer is
            //   inside `pop_tail` or can reach it again (module docs);
            // - the producer (us) never holds segment pointers across calls;
            // - it was allocated by `Segment::allocate` and is freed once,
            //   since `oldest` moves past it below.
            let boxed = unsafe { Box::from_raw(segment) };
            boxed.life.retire();
            segment = boxed.next.load(Ordering::Relaxed);
            drop(boxed);
        }
        // SAFETY: producer-only cell; we are the producer.
        self.oldest.with_mut(|oldest| unsafe { *oldest = tail });
    }

    /// Values in the linked segments, summed over a walk from the head; a
    /// snapshot under concurrency.
    ///
    /// # Safety
    ///
    /// Single producer (see [`push_head`](Self::push_head)).
    pub(crate) unsafe fn len(&self) -> usize {
        // SAFETY: producer-only cell; we are the producer.
        let mut segment = self.head.with(|head| unsafe { *head });
        let mut len = 0;
        while !segment.is_null() {
            // SAFETY: live for the producer, as in `pop_head`.
            unsafe {
                len += (*segment).ring.len();
                segment = (*segment).prev.load(Ordering::Relaxed);
            }
        }
        len
    }

    /// True when [`len`](Self::len) is zero; stops at the first value.
    ///
    /// # Safety
    ///
    /// Single producer (see [`push_head`](Self::push_head)).
    pub(crate) unsafe fn is_empty(&self) -> bool {
        // SAFETY: producer-only cell; we are the producer.
        let mut segment = self.head.with(|head| unsafe { *head });
        while !segment.is_null() {
            // SAFETY: live for the producer, as in `pop_head`.
            unsafe {
                if (*segment).ring.len() != 0 {
                    return false;
                }
                segment = (*segment).prev.load(Ordering::Relaxed);
            }
        }
        true
    }

    /// Segments still allocated (linked or awaiting reclamation).
    ///
    /// # Safety
    ///
    /// Single producer (see [`push_head`](Self::push_head)).
    pub(crate) unsafe fn allocated_segments(&self) -> usize {
        // SAFETY: producer-only cell; we are the producer.
        let mut segment = self.oldest.with(|oldest| unsafe { *oldest });
        let mut count = 0;
        while !segment.is_null() {
            count += 1;
            // SAFETY: segments from `oldest` on are not freed yet, and only
            // the producer (us) frees them.
            segment = unsafe { (*segment).next.load(Ordering::Relaxed) };
        }
        count
    }
}

impl<T: Clone, const KEEP_UNLINKED: bool> PoolChain<T, KEEP_UNLINKED> {
    /// Copies the linked segments' states, oldest (tail) first.
    ///
    /// # Safety
    ///
    /// No other thread may access the chain during the call.
    pub(crate) unsafe fn snapshot(&self) -> Vec<RingSnapshot<T>> {
        let mut segments = Vec::new();
        let mut segment = self.tail.load(Ordering::Relaxed);
        while !segment.is_null() {
            // SAFETY: linked segments are live, and nobody else touches the
            // chain (caller contract).
            unsafe {
                segments.push((*segment).ring.snapshot());
                segment = (*segment).next.load(Ordering::Relaxed);
            }
        }
        segments
    }
}

impl<T, const KEEP_UNLINKED: bool> Drop for PoolChain<T, KEEP_UNLINKED> {
    fn drop(&mut self) {
        self.life.retire();
        // SAFETY: `&mut self`: no producer or consumer is left.
        let mut segment = self.oldest.with(|oldest| unsafe { *oldest });
        let mut segments = Vec::new();
        while !segment.is_null() {
            // SAFETY:
            // - every segment from `oldest` on is allocated and owned by the
            //   chain; nobody else can reach it any more (`&mut self`);
            // - each is taken once: we follow `next` forward.
            let boxed = unsafe { Box::from_raw(segment) };
            boxed.life.retire();
            segment = boxed.next.load(Ordering::Relaxed);
            segments.push(boxed);
        }
        // Dropping the rings drops the values still in them; the `Vec`
        // keeps going if one `T::drop` panics.
        drop(segments);
    }
}

impl<T, const KEEP_UNLINKED: bool> fmt::Debug for PoolChain<T, KEEP_UNLINKED> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolChain").finish_non_exhaustive()
    }
}

/// The single producer of a [`PoolChain`]: pushes and pops at the head.
/// `Send` but not `Sync`.
pub struct Producer<T> {
    chain: Arc<PoolChain<T>>,
    /// Makes the handle `!Sync` (one producer per chain).
    _not_sync: PhantomData<core::cell::Cell<()>>,
}

impl<T> Producer<T> {
    /// Adds `value` at the head; never fails (the chain grows).
    pub fn push_head(&mut self, value: T) {
        // SAFETY: the only producer handle (never cloned, `!Sync`), and
        // `&mut self` excludes concurrent calls through it.
        unsafe { self.chain.push_head(value) }
    }

    /// Removes the most recently pushed value still in the chain.
    pub fn pop_head(&mut self) -> Option<T> {
        // SAFETY: single producer, as in `push_head`.
        unsafe { self.chain.pop_head() }
    }

    /// Number of values in the chain (a snapshot: consumers may be popping).
    pub fn len(&self) -> usize {
        // SAFETY: single producer; `&self` on a `!Sync` handle cannot race
        // with `&mut self` calls.
        unsafe { self.chain.len() }
    }

    /// True when [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        // SAFETY: single producer, as in `len`.
        unsafe { self.chain.is_empty() }
    }

    /// Segments still allocated, including unlinked ones not yet freed;
    /// lets tests show that drained segments really go away.
    pub fn allocated_segments(&self) -> usize {
        // SAFETY: single producer, as in `len`.
        unsafe { self.chain.allocated_segments() }
    }

    /// A new consumer handle for the same chain.
    pub fn stealer(&self) -> Stealer<T> {
        Stealer {
            chain: self.chain.clone(),
        }
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("chain::Producer").finish_non_exhaustive()
    }
}

/// A consumer of a [`PoolChain`]: pops at the tail. `Clone + Send + Sync`.
pub struct Stealer<T> {
    chain: Arc<PoolChain<T>>,
}

impl<T> Stealer<T> {
    /// Removes the oldest value in the chain, if any.
    pub fn pop_tail(&self) -> Option<T> {
        self.chain.pop_tail()
    }
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
        }
    }
}

impl<T> fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("chain::Stealer").finish_non_exhaustive()
    }
}
