//! Pools that outlive a scope: a `static` pool built on first use, and
//! owned guards held across `.await` in tokio tasks.
//!
//! Run: `cargo run --release --example owned_guards`.

use std::sync::{Arc, LazyLock};
use std::thread;

use victim_pool::{OwnedPoolGuard, Pool};

/// A process-wide buffer pool: `LazyLock` builds it on first use; a
/// `&'static Pool` makes `get_guard` guards `'static` too.
static BUFFERS: LazyLock<Pool<Vec<u8>>> = LazyLock::new(|| {
    Pool::builder()
        .new_fn(|| Vec::with_capacity(4096))
        .reset(Vec::clear)
        .keep_if(|buf: &Vec<u8>| buf.capacity() <= 64 << 10)
        .build()
});

/// A request handler that holds a pooled buffer across an `.await`: the
/// owned guard is `Send + 'static`, as `tokio::spawn` requires, and puts
/// the buffer back when the task drops it, on whichever worker that is.
async fn handle(pool: Arc<Pool<String>>, request: u32) -> usize {
    let mut out: OwnedPoolGuard<String> = pool.get_owned();
    out.push_str("response to ");
    tokio::task::yield_now().await; // e.g. waiting for the database
    out.push_str(&request.to_string());
    out.len()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The static pool, from plain threads.
    let lens: Vec<usize> = (0..4)
        .map(|i| {
            thread::spawn(move || {
                let mut buf = BUFFERS.get_guard();
                buf.extend(std::iter::repeat_n(b'x', 100 * (i + 1)));
                buf.len()
            })
        })
        .map(|t| t.join().unwrap())
        .collect();
    println!("static pool: buffers of {lens:?} bytes");

    // 1,000 requests in waves of 8 tasks: at most 8 strings are out at
    // once, so New runs about that often, not once per request.
    let strings = Arc::new(
        Pool::builder()
            .new_fn(String::new)
            .reset(String::clear)
            .build(),
    );
    let mut served = 0;
    for wave in 0..125 {
        let tasks: Vec<_> = (0..8)
            .map(|i| tokio::spawn(handle(Arc::clone(&strings), wave * 8 + i)))
            .collect();
        for task in tasks {
            served += usize::from(task.await.unwrap() > 0);
        }
    }
    let stats = strings.stats();
    println!(
        "tokio: {served} requests served with {} strings made by New ({} Gets found one in the pool)",
        stats.new_calls,
        stats.hits()
    );
}
