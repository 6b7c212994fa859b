//! A pool of 64 KiB buffers shared by 8 threads, each "handling requests"
//! that need a scratch buffer. Prints how many buffers were allocated
//! versus reused, before and after a cleanup cycle.
//!
//! Run with: `cargo run --release --example buffer_pool`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use victim_pool::Pool;

const BUFFER_SIZE: usize = 64 * 1024;
const THREADS: usize = 8;
const REQUESTS_PER_THREAD: usize = 10_000;

fn main() {
    let allocated = Arc::new(AtomicUsize::new(0));
    let counter = allocated.clone();
    let pool = Pool::builder()
        .new_fn(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            Vec::<u8>::with_capacity(BUFFER_SIZE)
        })
        // Hand out clean buffers: clear on the way back in.
        .reset(|buffer: &mut Vec<u8>| buffer.clear())
        .build();

    let served = run_requests(&pool);
    let fresh = allocated.load(Ordering::Relaxed);
    println!(
        "{served} requests on {THREADS} threads: {fresh} buffers allocated, {} reused ({:.2}% reuse)",
        served - fresh,
        100.0 * (served - fresh) as f64 / served as f64
    );

    // One cleanup: everything moves to the victim cache and is still found.
    pool.cleanup();
    let before = allocated.load(Ordering::Relaxed);
    let served = run_requests(&pool);
    println!(
        "after one cleanup: {served} more requests, {} new buffers (the victim cache kept the rest)",
        allocated.load(Ordering::Relaxed) - before
    );

    // Two cleanups with no use in between: idle buffers are released.
    pool.cleanup();
    pool.cleanup();
    let before = allocated.load(Ordering::Relaxed);
    let _ = pool.get();
    println!(
        "after two idle cleanups: the next get allocated {} new buffer(s)",
        allocated.load(Ordering::Relaxed) - before
    );
}

/// Each thread serves requests, taking a buffer from the pool for each and
/// returning it (through the guard) when done.
fn run_requests(pool: &Pool<Vec<u8>>) -> usize {
    thread::scope(|scope| {
        for id in 0..THREADS {
            scope.spawn(move || {
                for request in 0..REQUESTS_PER_THREAD {
                    let mut buffer = pool.get_guard();
                    buffer.extend_from_slice(format!("thread {id} request {request}").as_bytes());
                    assert!(buffer.capacity() >= BUFFER_SIZE);
                }
            });
        }
    });
    THREADS * REQUESTS_PER_THREAD
}
