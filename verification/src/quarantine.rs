//! The global allocator of the loom and shuttle test binaries: `System`,
//! except that a small block is not freed at once but queued behind the
//! last [`SLOTS`] freed blocks, so it keeps its contents (and is not handed
//! out again) for a while.
//!
//! The core's traced objects carry a seal that their `Drop` breaks, and
//! every access checks it (src/sync/trace.rs). Right after a real free,
//! the allocator may already have written its own links into the block or
//! handed it to a new object, and the check then reads someone else's
//! bytes; behind the queue it reads the broken seal, names the object, and
//! the failure is the same on every replay of the schedule. Miri remains
//! the exact detector; this only makes the checkers' one reliable.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;

/// Freed blocks kept back.
const SLOTS: usize = 4096;
/// Larger blocks are freed at once (the core's segments and chains are
/// far smaller under the checkers).
const MAX_SIZE: usize = 4096;

struct Queue {
    next: usize,
    /// (address, size, align) of each kept block; address 0 = empty.
    blocks: [(usize, usize, usize); SLOTS],
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    next: 0,
    blocks: [(0, 0, 1); SLOTS],
});

struct Quarantine;

#[global_allocator]
static ALLOCATOR: Quarantine = Quarantine;

// SAFETY: every block handed out comes from `System` with the caller's
// layout, and is given back to `System` exactly once, with the layout it
// was allocated with (kept beside its address in the queue).
unsafe impl GlobalAlloc for Quarantine {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's (non-zero-sized) layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() > MAX_SIZE {
            // SAFETY: `ptr` was allocated by `System` with `layout`.
            unsafe { System.dealloc(ptr, layout) };
            return;
        }
        // `Mutex::lock` does not allocate; a poisoned queue is still
        // consistent (nothing in here panics while it is held).
        let evicted = {
            let mut q = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
            let i = q.next;
            q.next = (i + 1) % SLOTS;
            core::mem::replace(
                &mut q.blocks[i],
                (ptr as usize, layout.size(), layout.align()),
            )
        };
        let (old, size, align) = evicted;
        if old != 0 {
            // SAFETY:
            // - `old` was queued by an earlier `dealloc` with this size and
            //   alignment, which came from a valid `Layout`;
            // - it leaves the queue here, so it is freed once.
            unsafe {
                System.dealloc(
                    old as *mut u8,
                    Layout::from_size_align_unchecked(size, align),
                )
            };
        }
    }
}
