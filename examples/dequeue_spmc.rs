//! `PoolDequeue` on its own: one producer, three consumers, a ring of 8.
//!
//! The producer pushes 1..=1000 at the head (retrying while the ring is
//! full) and pops a few back itself; the consumers steal at the tail, each
//! doing a little work per value (so no one consumer drains the ring
//! alone), and each prints how many it stole. Every value comes out
//! exactly once. Run: `cargo run --example dequeue_spmc`.
//! The rules behind it, and the broken versions drawn step by step:
//! verification/TOUR.md.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use victim_pool::dequeue::PoolDequeue;

fn main() {
    const N: u64 = 1000;
    // Start just below 2^32 so the indices wrap during the run (as Go's
    // tests do).
    let (mut producer, stealer) = PoolDequeue::<u64>::with_start_index(8, u32::MAX - 100);
    let done = Arc::new(AtomicBool::new(false));
    // Everyone starts together, so every consumer is stealing from the
    // first push on.
    let start = Arc::new(Barrier::new(4));
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let (stealer, done, start) = (stealer.clone(), done.clone(), start.clone());
            thread::spawn(move || {
                let mut got = Vec::new();
                start.wait();
                // Until the producer is done and the ring looks empty.
                loop {
                    let finished = done.load(Ordering::Acquire);
                    match stealer.pop_tail() {
                        Some(v) => {
                            got.push(v);
                            // The work done with a stolen value.
                            thread::sleep(Duration::from_micros(20));
                        }
                        None if finished => break,
                        None => thread::yield_now(),
                    }
                }
                got
            })
        })
        .collect();
    let mut mine = Vec::new();
    start.wait();
    for v in 1..=N {
        let mut value = v;
        // Full: a consumer still holds the slot (its typ is set). Wait.
        while let Err(back) = producer.push_head(value) {
            value = back;
            thread::yield_now();
        }
        if v % 100 == 0 {
            // The producer may take back its newest value at the head.
            mine.extend(producer.pop_head());
        }
    }
    done.store(true, Ordering::Release);
    let mut all = mine.clone();
    for (i, c) in consumers.into_iter().enumerate() {
        let got = c.join().expect("consumer panicked");
        println!("consumer {i} stole {} values", got.len());
        all.extend(got);
    }
    while let Some(v) = stealer.pop_tail() {
        all.push(v);
    }
    println!("producer popped back {} values", mine.len());
    all.sort_unstable();
    assert_eq!(all, (1..=N).collect::<Vec<_>>(), "every value exactly once");
    println!("all {N} values came out exactly once");
}
