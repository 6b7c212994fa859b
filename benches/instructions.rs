//! Instructions per private Get+Put, counted by callgrind: a figure that,
//! unlike wall time, does not move with the load of a shared machine.
//! `benches/run.sh` runs this binary under `valgrind --tool=callgrind` twice
//! per case, with `INSTR_ITERS` = 100,000 and 1,100,000, and reports the
//! difference divided by 1,000,000 (so start-up cost cancels out).
//!
//! `INSTR_CASE` picks the case: `<pool>.<item>` with pool `victim-pool`,
//! `victim-pool-local`, `victim-pool-fallback` (`victim-pool` in a process
//! that must run the fallback fence pair: set `VICTIM_POOL_NO_MEMBARRIER=1`,
//! it is checked), `tls-bound` (a `thread_local!` `Vec` free list),
//! `victim-pool-miss` (a Get that finds nothing), or one iteration of a
//! shape on one thread, `victim-pool-overflow` (100 Puts, 100 Gets) or
//! `victim-pool-starvation` (67 Puts, 100 Gets without New), and
//! item `vec1k`, `box_u64` or `array128`. It prints the process's fence mode
//! (`fence mode: Membarrier` or `Fallback`) on stderr. Without `INSTR_ITERS`
//! (as under `cargo bench`) it runs each case briefly, so the benchmark stays
//! a test of itself.

#![allow(missing_docs, reason = "a bench binary")]

mod common;

use std::hint::black_box;

use common::{Array128, Item, TlsFree};
use victim_pool::Pool;

#[inline(never)]
fn pool_cycle<T: Item>(pool: &Pool<T>) {
    let item = pool.get();
    pool.put(black_box(item));
}

#[inline(never)]
fn local_cycle<T: Item>(pool: &victim_pool::LocalHandle<'_, T>) {
    let item = pool.get();
    pool.put(black_box(item));
}

/// A Get that finds nothing: the whole lookup order, on one thread.
#[inline(never)]
fn miss<T: Item>(pool: &Pool<T>) {
    black_box(pool.try_get());
}

/// One iteration of Overflow on one thread: 100 Puts, then 100 Gets.
#[inline(never)]
fn overflow<T: Item>(pool: &Pool<T>, held: &mut Vec<T>) {
    held.drain(..).for_each(|item| pool.put(black_box(item)));
    held.extend((0..100).map(|_| black_box(pool.get())));
}

/// One iteration of Starvation on one thread: 67 Puts, then 100 Gets
/// without New (67 hits, 33 misses).
#[inline(never)]
fn starvation<T: Item>(pool: &Pool<T>, held: &mut Vec<T>) {
    held.drain(..).for_each(|item| pool.put(black_box(item)));
    held.extend((0..100).filter_map(|_| black_box(pool.try_get())));
    held.resize_with(67, T::fresh);
}

#[inline(never)]
fn tls_cycle<T: TlsFree>() {
    let item = T::with_free(Vec::pop).unwrap_or_else(T::fresh);
    let item = black_box(item);
    T::with_free(|free| free.push(item));
}

fn run<T: TlsFree>(pool: &str, iters: u64) {
    match pool {
        "victim-pool" | "victim-pool-fallback" => {
            let p = Pool::builder().new_fn(T::fresh).manual_cleanup().build();
            (0..iters).for_each(|_| pool_cycle(&p));
        }
        "victim-pool-local" => {
            let p = Pool::builder().new_fn(T::fresh).manual_cleanup().build();
            let local = p.local();
            (0..iters).for_each(|_| local_cycle(&local));
        }
        "victim-pool-miss" => {
            let p = Pool::builder().new_fn(T::fresh).manual_cleanup().build();
            // A chain that has held items, as in Starvation.
            let items: Vec<T> = (0..20).map(|_| T::fresh()).collect();
            items.into_iter().for_each(|item| p.put(item));
            while p.try_get().is_some() {}
            (0..iters).for_each(|_| miss(&p));
        }
        "victim-pool-overflow" | "victim-pool-starvation" => {
            let p = Pool::builder().new_fn(T::fresh).manual_cleanup().build();
            let overflows = pool == "victim-pool-overflow";
            let hold = if overflows { 100 } else { 67 };
            let mut held: Vec<T> = (0..hold).map(|_| T::fresh()).collect();
            for _ in 0..iters {
                if overflows {
                    overflow(&p, &mut held);
                } else {
                    starvation(&p, &mut held);
                }
            }
        }
        "tls-bound" => (0..iters).for_each(|_| tls_cycle::<T>()),
        other => panic!("INSTR_CASE: unknown pool {other:?}"),
    }
}

fn main() {
    // Before any pool: the mode holds for the whole process.
    let mode = victim_pool::fence_mode();
    eprintln!("fence mode: {mode:?}");
    let fallback_case =
        std::env::var("INSTR_CASE").is_ok_and(|c| c.starts_with("victim-pool-fallback."));
    assert!(
        !fallback_case || mode == victim_pool::FenceMode::Fallback,
        "INSTR_CASE victim-pool-fallback.* needs VICTIM_POOL_NO_MEMBARRIER=1 (mode is {mode:?})"
    );
    let iters = std::env::var("INSTR_ITERS")
        .ok()
        .map(|n| n.parse().expect("INSTR_ITERS"));
    let cases: Vec<String> = match std::env::var("INSTR_CASE") {
        Ok(case) => vec![case],
        Err(_) => ["victim-pool", "victim-pool-local", "tls-bound"]
            .iter()
            .flat_map(|p| ["vec1k", "box_u64", "array128"].map(|i| format!("{p}.{i}")))
            .collect(),
    };
    for case in cases {
        let (pool, item) = case.split_once('.').expect("INSTR_CASE is <pool>.<item>");
        let n = iters.unwrap_or(1_000);
        match item {
            "vec1k" => run::<Vec<u8>>(pool, n),
            "box_u64" => run::<Box<u64>>(pool, n),
            "array128" => run::<Array128>(pool, n),
            other => panic!("INSTR_CASE: unknown item {other:?}"),
        }
    }
}
