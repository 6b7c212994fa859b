//! Memory of victim-pool: heap bytes per pooled item (a counting global
//! allocator) against the size of one ring slot, and the process RSS
//! through fill → drain → cleanup of 1,000,000 items.
//!
//! Results go to `$BENCH_REPORT_DIR/memory.json` (default
//! `target/bench-report`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

use victim_pool::Pool;

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments,
// which upholds `GlobalAlloc`'s contract; the counter has no effect on the
// returned memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded from our caller, who upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded from our caller: `ptr` came from `alloc` with
        // this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ITEMS: usize = 1_000_000;

/// The ring slot of src/dequeue.rs (`occupied: AtomicBool` + the value),
/// replicated to take its size.
#[allow(dead_code, reason = "only its size is used")]
struct SlotLike<T> {
    occupied: AtomicBool,
    value: T,
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Heap bytes the pool itself holds per pooled item (the items' own heap
/// excluded), after `ITEMS` Puts from one thread.
fn bytes_per_item<T: Send + 'static>(name: &str, make: fn() -> T) -> String {
    let pool: Pool<T> = Pool::new(make);
    pool.put(make());
    let _ = pool.get();
    let items: Vec<T> = (0..ITEMS).map(|_| make()).collect();
    let before = live();
    for v in items {
        pool.put(v);
    }
    // The Vec that carried the items is gone (-ITEMS * size_of T).
    let after = live() + (ITEMS * std::mem::size_of::<T>()) as isize;
    let per_item = (after - before) as f64 / ITEMS as f64;
    let slot = std::mem::size_of::<SlotLike<T>>();
    let o = format!(
        "{{\"item\":\"{name}\",\"size_of_item\":{},\"size_of_slot\":{slot},\
         \"pool_bytes_per_item\":{per_item:.2},\"ratio_to_slot\":{:.3}}}",
        std::mem::size_of::<T>(),
        per_item / slot as f64
    );
    eprintln!("bytes_per_item {o}");
    o
}

/// RSS through fill, drain and cleanups of `ITEMS` `Box<u64>`s.
fn rss_cycle() -> String {
    let pool: Pool<Box<u64>> = Pool::new(|| Box::new(42));
    pool.put(pool.get());
    let empty = rss_bytes();
    let live_empty = live();
    for _ in 0..ITEMS {
        pool.put(Box::new(42));
    }
    let full = rss_bytes();
    let mut drained = 0;
    while let Some(v) = pool.try_get() {
        drop(v);
        drained += 1;
    }
    let after_drain = rss_bytes();
    let live_drain = live();
    pool.cleanup();
    pool.cleanup();
    let after_cleanup = rss_bytes();
    let live_cleanup = live();
    // SAFETY: `malloc_trim` has no preconditions; it only returns free
    // memory of glibc's heap to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
    let after_trim = rss_bytes();
    let o = format!(
        "{{\"items\":{ITEMS},\"drained\":{drained},\"rss_empty\":{empty},\"rss_full\":{full},\
         \"rss_after_drain\":{after_drain},\"rss_after_cleanup\":{after_cleanup},\
         \"rss_after_malloc_trim\":{after_trim},\"live_empty\":{live_empty},\
         \"live_after_drain\":{live_drain},\"live_after_cleanup\":{live_cleanup}}}"
    );
    eprintln!("rss {o}");
    o
}

fn main() {
    let dir = std::env::var("BENCH_REPORT_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-report").into());
    std::fs::create_dir_all(&dir).expect("create report dir");
    let rss = rss_cycle();
    let per_item = [
        bytes_per_item("u64", || 42u64),
        bytes_per_item("box_u64", || Box::new(42u64)),
        bytes_per_item("vec1k", || Vec::<u8>::with_capacity(1024)),
    ];
    let json = format!("{{\"rss\":{rss},\"per_item\":[{}]}}\n", per_item.join(","));
    let path = format!("{dir}/memory.json");
    std::fs::write(&path, json).expect("write memory.json");
    eprintln!("wrote {path}");
}
