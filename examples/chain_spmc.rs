//! `PoolChain` on its own: an unbounded chain of rings, one producer and
//! two consumers.
//!
//! The producer pushes 10 000 values without ever being refused (the chain
//! grows by doubling segments); consumers drain the tail and unlink empty
//! segments, which only the producer frees, once no consumer can be inside
//! them. Run: `cargo run --example chain_spmc`. See verification/TOUR.md.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use victim_pool::chain::PoolChain;

fn main() {
    const N: u64 = 10_000;
    let (mut producer, stealer) = PoolChain::<u64>::new();
    for v in 1..=N / 2 {
        producer.push_head(v);
    }
    println!(
        "after {} pushes: {} segments allocated",
        N / 2,
        producer.allocated_segments()
    );
    let done = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (stealer, done) = (stealer.clone(), done.clone());
            thread::spawn(move || {
                let mut got = Vec::new();
                // Until the producer is done and the ring looks empty.
                loop {
                    let finished = done.load(Ordering::Acquire);
                    match stealer.pop_tail() {
                        Some(v) => got.push(v),
                        None if finished => break,
                        None => thread::yield_now(),
                    }
                }
                got
            })
        })
        .collect();
    for v in N / 2 + 1..=N {
        producer.push_head(v);
    }
    done.store(true, Ordering::Release);
    let mut all = Vec::new();
    for (i, c) in consumers.into_iter().enumerate() {
        let got = c.join().expect("consumer panicked");
        println!("consumer {i}: {} values", got.len());
        all.extend(got);
    }
    while let Some(v) = producer.pop_head() {
        all.push(v);
    }
    println!(
        "drained: {} segments still allocated",
        producer.allocated_segments()
    );
    all.sort_unstable();
    assert_eq!(all, (1..=N).collect::<Vec<_>>(), "every value exactly once");
    println!("all {N} values came out exactly once");
}
