//! An index of the slots whose chains may hold items, so a Get that misses
//! scans a few bitmap words instead of every slot of the pool.
//!
//! One bit per slot and per generation, in words allocated per slot bucket
//! (bucket `b` holds slots `2^b - 1 .. 2^(b+1) - 1`). A set bit means "this
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

/// The index: per bucket, a lazily allocated pair of bitmaps.
pub(crate) struct SlotMarks {
    /// Installed once per bucket by CAS (Release; loads are Acquire) before
    /// any slot of the bucket is used; freed only with the pool.
    buckets: [AtomicPtr<BucketMarks>; BUCKETS],
}

impl SlotMarks {
    pub(crate) fn new() -> Self {
        Self {
            buckets: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// Allocates `bucket`'s bitmaps if nobody has yet. Called before the
    /// bucket's slots are published, so every user of a slot finds them.
    pub(crate) fn ensure(&self, bucket: usize) {
        if !self.buckets[bucket].load(Ordering::Acquire).is_null() {
            return;
        }
        let words = (1usize << bucket).div_ceil(WORD_BITS);
        let zeroed = || (0..words).map(|_| AtomicU64::new(0)).collect();
        let fresh = Box::into_raw(Box::new(BucketMarks {
            shared: zeroed(),
            victim: zeroed(),
        }));
        // Release pairs with the Acquire loads in `bucket`.
        if self.buckets[bucket]
            .compare_exchange(ptr::null_mut(), fresh, Ordering::Release, Ordering::Acquire)
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

    fn word_and_bit(&self, mark: Mark, id: usize) -> Option<(&AtomicU64, u64)> {
        let (bucket, index) = bucket_of(id);
        let word = &self.bucket(bucket)?.words(mark)[index / WORD_BITS];
        Some((word, 1 << (index % WORD_BITS)))
    }

    /// Marks slot `id`: its `mark` chain may hold items.
    #[inline]
    pub(crate) fn set(&self, mark: Mark, id: usize) {
        if let Some((word, bit)) = self.word_and_bit(mark, id) {
            // Only a transition pays for an RMW. Release pairs with the
            // Acquire loads of scans: the items pushed before are visible.
            if word.load(Ordering::Relaxed) & bit == 0 {
                word.fetch_or(bit, Ordering::Release);
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
    pub(crate) fn marked_from(
        &self,
        mark: Mark,
        first: usize,
        count: usize,
    ) -> impl Iterator<Item = usize> + '_ {
        let first = if count == 0 { 0 } else { first % count };
        self.marked_in(mark, first, count)
            .chain(self.marked_in(mark, 0, first))
    }

    /// The marked slots in `lo..hi`, ascending.
    fn marked_in(&self, mark: Mark, lo: usize, hi: usize) -> impl Iterator<Item = usize> + '_ {
        let mut next = lo;
        core::iter::from_fn(move || {
            while next < hi {
                let (bucket, index) = bucket_of(next);
                let Some(marks) = self.bucket(bucket) else {
                    next = bucket_start(bucket + 1);
                    continue;
                };
                let word_index = index / WORD_BITS;
                // Acquire pairs with the Release `fetch_or` in `set`.
                let bits =
                    marks.words(mark)[word_index].load(Ordering::Acquire) >> (index % WORD_BITS);
                if bits == 0 {
                    // Nothing more in this word: go to the next word (or
                    // bucket, whichever starts first).
                    let word_end = bucket_start(bucket) + (word_index + 1) * WORD_BITS;
                    next = word_end.min(bucket_start(bucket + 1));
                    continue;
                }
                let found = next + bits.trailing_zeros() as usize;
                next = found + 1;
                if found < hi {
                    return Some(found);
                }
            }
            None
        })
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
        marks.ensure(0);
        marks.ensure(3);
        marks.set(Mark::Victim, 0);
        marks.set(Mark::Victim, 9); // bucket 3
        marks.set(Mark::Victim, 2); // bucket 1: not allocated, ignored
        assert_eq!(
            marks.marked_from(Mark::Victim, 5, 15).collect::<Vec<_>>(),
            [9, 0]
        );
        assert!(marks.marked_from(Mark::Victim, 0, 0).next().is_none());
    }
}
