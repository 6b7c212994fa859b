//! An index of the slots whose chains may hold items, so a Get that misses
//! scans a few bitmap words instead of every slot of the pool.
//!
//! One bit per slot and per generation: slots `0..63` (buckets 0 to 5) in one
//! word per generation inside the index itself, so that a pool used by fewer
//! than 64 threads scans one word; the slots of every later bucket `b`
//! (`2^b - 1 .. 2^(b+1) - 1`) in words allocated with it. A set bit means "this
//! slot's chain may hold items"; a clear bit means "it holds none" — at
//! least as far as a Get that does not overlap the write that would set it
//! can tell. So a scan that skips clear bits visits the non-empty chains in
//! the same order as a scan of every slot (DESIGN.md §5, "The slot index").

use core::ptr;

use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// Number of slot buckets: bucket `b` holds `2^b` slots, so ids up to
/// `usize::MAX - 1` fit without a hard thread limit.
pub(crate) const BUCKETS: usize = usize::BITS as usize;

const WORD_BITS: usize = u64::BITS as usize;

/// Slots whose bits live in the index's own word (buckets 0 to 5). Under
/// loom only slot 0 (bucket 0), so that a model of a few threads reaches
/// the bucket bitmaps and their publication (as `CHAIN_FIRST_SEGMENT` is
/// shrunk there).
#[cfg(not(loom))]
const LOW_SLOTS: usize = 63;
#[cfg(loom)]
const LOW_SLOTS: usize = 1;

/// Buckets whose slots all fall below [`LOW_SLOTS`].
#[cfg(not(loom))]
const LOW_BUCKETS: usize = 6;
#[cfg(loom)]
const LOW_BUCKETS: usize = 1;

/// The bits of `lo..hi` within a word of slots `0..64` (`lo <= hi <= 64`).
fn range_mask(lo: usize, hi: usize) -> u64 {
    let below = |n: usize| {
        if n >= WORD_BITS {
            u64::MAX
        } else {
            (1u64 << n) - 1
        }
    };
    below(hi) & !below(lo)
}

/// Where to find slot `id`: `(bucket, index in bucket)`.
#[inline]
pub(crate) fn bucket_of(id: usize) -> (usize, usize) {
    let n = id + 1;
    let bucket = n.ilog2() as usize;
    (bucket, n - (1 << bucket))
}

/// The id of the first slot of `bucket`.
fn bucket_start(bucket: usize) -> usize {
    (1 << bucket) - 1
}

/// Which generation's chain a mark is about.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mark {
    /// The slot's primary (`shared`) chain. Set by the slot's owner after it
    /// pushes; cleared by the owner when its own `pop_head` finds the chain
    /// empty, and by cleanup before it swaps the chain out.
    Shared,
    /// The slot's victim chain. Written only by cleanup (which holds its
    /// lock): set when it moves a chain into the victim, cleared otherwise.
    Victim,
}

/// The two bitmaps of one bucket.
struct BucketMarks {
    shared: Box<[AtomicU64]>,
    victim: Box<[AtomicU64]>,
}

impl BucketMarks {
    fn words(&self, mark: Mark) -> &[AtomicU64] {
        match mark {
            Mark::Shared => &self.shared,
            Mark::Victim => &self.victim,
        }
    }
}

/// The index: a word per generation for slots `0..63`, and per later
/// bucket a lazily allocated pair of bitmaps.
pub(crate) struct SlotMarks {
    /// Bit `id` of `low[mark]`: slot `id < 63`.
    low: [AtomicU64; 2],
    /// Installed once per bucket `>= 6` by CAS (Release; loads are Acquire)
    /// before any slot of the bucket is used; freed only with the pool.
    buckets: [AtomicPtr<BucketMarks>; BUCKETS],
}

impl SlotMarks {
    pub(crate) fn new() -> Self {
        Self {
            low: [AtomicU64::new(0), AtomicU64::new(0)],
            buckets: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    #[inline]
    fn low(&self, mark: Mark) -> &AtomicU64 {
        &self.low[mark as usize]
    }

    /// Allocates `bucket`'s bitmaps if nobody has yet. Called before the
    /// bucket's slots are published, so every user of a slot finds them.
    pub(crate) fn ensure(&self, bucket: usize) {
        // Relaxed: only tested for null, never dereferenced (`bucket()`
        // reloads it with Acquire); a later user finds the marks by
        // coherence, as this load happens-before the bucket's publication.
        if bucket < LOW_BUCKETS || !self.buckets[bucket].load(Ordering::Relaxed).is_null() {
            return;
        }
        let words = (1usize << bucket).div_ceil(WORD_BITS);
        let zeroed = || (0..words).map(|_| AtomicU64::new(0)).collect();
        let fresh = Box::into_raw(Box::new(BucketMarks {
            shared: zeroed(),
            victim: zeroed(),
        }));
        // Release pairs with the Acquire loads in `bucket`. Failure Relaxed:
        // the installed pointer is not used here (`bucket()` reloads it).
        if self.buckets[bucket]
            .compare_exchange(ptr::null_mut(), fresh, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // SAFETY: `fresh` lost the race and was never published.
            drop(unsafe { Box::from_raw(fresh) });
        }
    }

    fn bucket(&self, bucket: usize) -> Option<&BucketMarks> {
        let marks = self.buckets[bucket].load(Ordering::Acquire);
        // SAFETY: a non-null entry is a live allocation freed only in `drop`.
        (!marks.is_null()).then(|| unsafe { &*marks })
    }

    #[inline]
    fn word_and_bit(&self, mark: Mark, id: usize) -> Option<(&AtomicU64, u64)> {
        if id < LOW_SLOTS {
            return Some((self.low(mark), 1 << id));
        }
        let (bucket, index) = bucket_of(id);
        let word = &self.bucket(bucket)?.words(mark)[index / WORD_BITS];
        Some((word, 1 << (index % WORD_BITS)))
    }

    /// Marks slot `id`: its `mark` chain may hold items.
    #[inline]
    pub(crate) fn set(&self, mark: Mark, id: usize) {
        if let Some((word, bit)) = self.word_and_bit(mark, id) {
            // Only a transition pays for an RMW. Relaxed: the mark is a
            // hint. A scan that sees it reaches the chain through an Acquire
            // load of the chain pointer and pops through the ring's own
            // Release/Acquire, so seeing the bit before the item is a Get
            // that ran just before the Put; nothing is read on the strength
            // of the bit (DESIGN.md §5, "The slot index").
            if word.load(Ordering::Relaxed) & bit == 0 {
                word.fetch_or(bit, Ordering::Relaxed);
            }
        }
    }

    /// Unmarks slot `id`: its `mark` chain holds no items.
    #[inline]
    pub(crate) fn clear(&self, mark: Mark, id: usize) {
        if let Some((word, bit)) = self.word_and_bit(mark, id) {
            if word.load(Ordering::Relaxed) & bit != 0 {
                // Relaxed: a clear publishes nothing; what orders it with
                // a later set is the chain swap or install it precedes.
                word.fetch_and(!bit, Ordering::Relaxed);
            }
        }
    }

    /// The marked slots below `count`, in Go's scan order: `first`,
    /// `first + 1`, … wrapping to 0.
    #[inline]
    pub(crate) fn marked_from(&self, mark: Mark, first: usize, count: usize) -> MarkedSlots<'_> {
        let word = self.low(mark);
        // Relaxed: a hint (see `set`); what the scan dereferences it
        // reaches through Acquire loads of the bucket and chain pointers.
        let low = word.load(Ordering::Relaxed);
        if low == 0 && count <= LOW_SLOTS {
            // Nothing marked in a pool of fewer than 64 slots (the common
            // miss): no division, nothing to walk.
            return MarkedSlots {
                marks: self,
                mark,
                low: [0; 2],
                ranges: [(0, 0); 2],
                stage: 4,
            };
        }
        let first = match first {
            first if first < count => first,
            _ if count == 0 => 0,
            first => first % count,
        };
        let low_part =
            |lo: usize, hi: usize| low & range_mask(lo.min(LOW_SLOTS), hi.min(LOW_SLOTS));
        MarkedSlots {
            marks: self,
            mark,
            low: [low_part(first, count), low_part(0, first)],
            ranges: [(first.max(LOW_SLOTS), count), (LOW_SLOTS, first)],
            stage: 0,
        }
    }

    /// The next marked slot in `*next..hi` (all at or above `LOW_SLOTS`),
    /// ascending; moves `*next` past it.
    fn next_in_buckets(&self, mark: Mark, next: &mut usize, hi: usize) -> Option<usize> {
        while *next < hi {
            let (bucket, index) = bucket_of(*next);
            let Some(marks) = self.bucket(bucket) else {
                *next = bucket_start(bucket + 1);
                continue;
            };
            let word_index = index / WORD_BITS;
            // Relaxed: a hint, as in `marked_from`.
            let bits = marks.words(mark)[word_index].load(Ordering::Relaxed) >> (index % WORD_BITS);
            if bits == 0 {
                // Nothing more in this word: go to the next word (or
                // bucket, whichever starts first).
                let word_end = bucket_start(bucket) + (word_index + 1) * WORD_BITS;
                *next = word_end.min(bucket_start(bucket + 1));
                continue;
            }
            let found = *next + bits.trailing_zeros() as usize;
            *next = found + 1;
            if found < hi {
                return Some(found);
            }
        }
        None
    }
}

/// The iterator of [`SlotMarks::marked_from`]: two ranges (`first..count`,
/// then `0..first`), each first in the low word (bits taken with one load),
/// then in the buckets above it.
pub(crate) struct MarkedSlots<'a> {
    marks: &'a SlotMarks,
    mark: Mark,
    /// Per range, its marked slots below `LOW_SLOTS`, not yet returned.
    low: [u64; 2],
    /// Per range, `(next, hi)` of its part at or above `LOW_SLOTS`.
    ranges: [(usize, usize); 2],
    /// `2 * range + (0: low word, 1: buckets)`.
    stage: usize,
}

impl Iterator for MarkedSlots<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        loop {
            let range = self.stage / 2;
            if range >= 2 {
                return None;
            }
            if self.stage % 2 == 0 {
                let bits = self.low[range];
                if bits != 0 {
                    self.low[range] = bits & (bits - 1);
                    return Some(bits.trailing_zeros() as usize);
                }
            } else {
                let (next, hi) = &mut self.ranges[range];
                if *next < *hi {
                    let found = self.marks.next_in_buckets(self.mark, next, *hi);
                    if found.is_some() {
                        return found;
                    }
                }
            }
            self.stage += 1;
        }
    }
}

impl Drop for SlotMarks {
    fn drop(&mut self) {
        for marks in &self.buckets {
            let marks = marks.load(Ordering::Relaxed);
            if !marks.is_null() {
                // SAFETY: allocated by `ensure`, freed only here, once
                // (`&mut self`: nobody else can reach it).
                drop(unsafe { Box::from_raw(marks) });
            }
        }
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    fn marked(marks: &SlotMarks, first: usize, count: usize) -> Vec<usize> {
        marks.marked_from(Mark::Shared, first, count).collect()
    }

    #[test]
    fn scans_marked_slots_in_go_order_across_buckets_and_words() {
        let marks = SlotMarks::new();
        for bucket in 0..9 {
            marks.ensure(bucket);
        }
        let set = [0, 1, 2, 6, 63, 64, 65, 127, 200, 300, 510];
        for id in set {
            marks.set(Mark::Shared, id);
        }
        assert_eq!(marked(&marks, 0, 511), set);
        assert_eq!(
            marked(&marks, 64, 511),
            [64, 65, 127, 200, 300, 510, 0, 1, 2, 6, 63]
        );
        assert_eq!(marked(&marks, 0, 100), [0, 1, 2, 6, 63, 64, 65]);
        marks.clear(Mark::Shared, 64);
        marks.clear(Mark::Shared, 0);
        assert_eq!(marked(&marks, 1, 128), [1, 2, 6, 63, 65, 127]);
        assert!(marks.marked_from(Mark::Victim, 0, 511).next().is_none());
    }

    #[test]
    fn unallocated_buckets_are_skipped() {
        let marks = SlotMarks::new();
        marks.ensure(6); // slots 63..127
        marks.ensure(8); // slots 255..511
        marks.set(Mark::Victim, 0); // the low word: always there
        marks.set(Mark::Victim, 62);
        marks.set(Mark::Victim, 70);
        marks.set(Mark::Victim, 300);
        marks.set(Mark::Victim, 130); // bucket 7: not allocated, ignored
        assert_eq!(
            marks.marked_from(Mark::Victim, 65, 400).collect::<Vec<_>>(),
            [70, 300, 0, 62]
        );
        assert_eq!(
            marks.marked_from(Mark::Victim, 1, 400).collect::<Vec<_>>(),
            [62, 70, 300, 0]
        );
        assert!(marks.marked_from(Mark::Victim, 0, 0).next().is_none());
        assert!(marks.marked_from(Mark::Shared, 0, 400).next().is_none());
    }

    #[test]
    fn the_low_word_scans_from_first_and_wraps() {
        let marks = SlotMarks::new();
        for id in [0, 3, 5, 9] {
            marks.set(Mark::Shared, id);
        }
        assert_eq!(marked(&marks, 4, 10), [5, 9, 0, 3]);
        assert_eq!(marked(&marks, 5, 6), [5, 0, 3]);
        assert_eq!(
            marked(&marks, 13, 10),
            [3, 5, 9, 0],
            "first is taken modulo count"
        );
        marks.clear(Mark::Shared, 5);
        assert_eq!(marked(&marks, 4, 10), [9, 0, 3]);
    }
}
