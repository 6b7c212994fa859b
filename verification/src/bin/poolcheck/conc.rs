//! Concurrent histories on real threads: only the invariants that hold
//! under any interleaving are checked — no item returned twice, none
//! fabricated, and conservation at quiescence (after the threads are
//! joined, draining every used slot and dropping the pool, each item was
//! dropped exactly once; with no cleanup in the history, the drained pool
//! held nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Barrier;

use serde::{Deserialize, Serialize};
use victim_pool_verification::rng::Rng;

use crate::history::{DropLog, Item};

/// One operation of a thread's script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadOp {
    /// Put a fresh item (ids: thread `t`'s `k`-th Put is `t << 32 | k`).
    Put,
    /// `try_get`; the item is kept until the end.
    Get,
    /// One cleanup of the pool.
    Cleanup,
}

/// A concurrent history: one script per thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcHistory {
    /// `max_per_thread`.
    pub max_per_thread: Option<usize>,
    /// The scripts.
    pub threads: Vec<Vec<ThreadOp>>,
}

impl ConcHistory {
    /// A random history: 2–4 threads of 4–40 operations.
    pub fn generate(rng: &mut Rng) -> Self {
        let threads = 2 + rng.below(3) as usize;
        let max_per_thread = match rng.below(4) {
            0 => Some(1 + rng.below(4) as usize),
            _ => None,
        };
        let cleanup_weight = rng.below(3);
        let threads = (0..threads)
            .map(|_| {
                let len = 4 + rng.below(37);
                (0..len)
                    .map(|_| match rng.below(20) {
                        r if r < cleanup_weight => ThreadOp::Cleanup,
                        r if r < 11 => ThreadOp::Put,
                        _ => ThreadOp::Get,
                    })
                    .collect()
            })
            .collect();
        Self {
            max_per_thread,
            threads,
        }
    }
}

/// What one thread saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ThreadResult {
    /// The slot the thread ran as.
    pub slot: usize,
    /// The result of each of its operations, as text.
    pub results: Vec<String>,
}

/// The outcome of one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ConcOutcome {
    /// Per thread.
    pub threads: Vec<ThreadResult>,
    /// Items drained after the join, by slot.
    pub drained: BTreeMap<usize, Vec<u64>>,
    /// The violated invariant, if any.
    pub violation: Option<String>,
}

type ThreadEnd = (ThreadResult, Vec<Item>, Option<String>);

fn thread_body(
    t: usize,
    script: &[ThreadOp],
    pool: &victim_pool::Pool<Item>,
    log: &DropLog,
    barrier: &Barrier,
) -> ThreadEnd {
    let mut hand = Vec::new();
    let mut result = ThreadResult {
        slot: pool.local().slot(),
        results: Vec::with_capacity(script.len()),
    };
    barrier.wait();
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut k = 0u64;
        for op in script {
            match op {
                ThreadOp::Put => {
                    let id = (t as u64) << 32 | k;
                    k += 1;
                    pool.put(Item::new(id, log));
                    result.results.push(format!("put {id:#x}"));
                }
                ThreadOp::Get => {
                    let item = pool.try_get();
                    result.results.push(match &item {
                        Some(i) => format!("got {:#x}", i.id),
                        None => "miss".to_string(),
                    });
                    hand.extend(item);
                }
                ThreadOp::Cleanup => {
                    pool.cleanup();
                    result.results.push("cleanup".to_string());
                }
            }
        }
    }));
    let err = r.err().map(|p| crate::context::panic_text(&*p));
    (result, hand, err)
}

/// Runs `h` once on real threads and checks the invariants.
pub fn run(h: &ConcHistory) -> ConcOutcome {
    let log = DropLog::default();
    let mut builder = victim_pool::Pool::builder().manual_cleanup();
    if let Some(max) = h.max_per_thread {
        builder = builder.max_per_thread(max);
    }
    let mut pool: victim_pool::Pool<Item> = builder.build();
    let barrier = Barrier::new(h.threads.len());
    let mut out = ConcOutcome::default();
    let mut hands: Vec<Vec<Item>> = Vec::new();
    let mut panicked = None;
    std::thread::scope(|s| {
        let handles: Vec<_> = h
            .threads
            .iter()
            .enumerate()
            .map(|(t, script)| {
                let (pool, log, barrier) = (&pool, &log, &barrier);
                s.spawn(move || thread_body(t, script, pool, log, barrier))
            })
            .collect();
        for handle in handles {
            let (result, hand, err) = handle.join().unwrap_or_else(|p| {
                (
                    ThreadResult::default(),
                    Vec::new(),
                    Some(crate::context::panic_text(&*p)),
                )
            });
            if err.is_some() && panicked.is_none() {
                panicked = err;
            }
            out.threads.push(result);
            hands.push(hand);
        }
    });
    if let Some(msg) = panicked {
        // The pool may be corrupt after a panic inside it: leak it.
        std::mem::forget(pool);
        std::mem::forget(hands);
        out.violation = Some(format!("a thread panicked inside the pool: {msg}"));
        return out;
    }

    let puts: BTreeSet<u64> = h
        .threads
        .iter()
        .enumerate()
        .flat_map(|(t, script)| {
            let n = script.iter().filter(|&&op| op == ThreadOp::Put).count() as u64;
            (0..n).map(move |k| (t as u64) << 32 | k)
        })
        .collect();
    let mut got: BTreeMap<u64, usize> = BTreeMap::new();
    for item in hands.iter().flatten() {
        *got.entry(item.id).or_default() += 1;
    }
    if let Some((&id, _)) = got.iter().find(|(_, &n)| n > 1) {
        out.violation = Some(format!("item {id:#x} was returned twice"));
    } else if let Some(&id) = got.keys().find(|id| !puts.contains(id)) {
        out.violation = Some(format!("item {id:#x} was returned but never put"));
    }
    // Quiescence: drain every slot the threads ran as.
    let slots: BTreeSet<usize> = out.threads.iter().map(|t| t.slot).collect();
    let mut drained_items = Vec::new();
    for &slot in &slots {
        let handle = pool.as_slot(slot);
        while let Some(item) = handle.try_get() {
            out.drained.entry(slot).or_default().push(item.id);
            drained_items.push(item);
        }
    }
    let before_drop = log.take();
    drop(pool);
    let held_by_pool = log.take();
    drop(hands);
    drop(drained_items);
    let after = log.take();
    let mut drops: BTreeMap<u64, u32> = BTreeMap::new();
    for id in before_drop.iter().chain(&held_by_pool).chain(&after) {
        *drops.entry(*id).or_default() += 1;
    }
    if out.violation.is_none() {
        if let Some(&id) = drops.keys().find(|id| !puts.contains(id)) {
            out.violation = Some(format!("item {id:#x} was dropped but never put"));
        } else if let Some((&id, &n)) = drops.iter().find(|(_, &n)| n != 1) {
            out.violation = Some(format!("item {id:#x} was dropped {n} times"));
        } else if let Some(&id) = puts.iter().find(|id| !drops.contains_key(id)) {
            out.violation = Some(format!("item {id:#x} was put but never dropped (leaked)"));
        } else if !held_by_pool.is_empty()
            && !h
                .threads
                .iter()
                .flatten()
                .any(|&op| op == ThreadOp::Cleanup)
        {
            // With cleanups, a victim chain that a concurrent Get may still
            // be reading is retired and freed later (at the latest when the
            // pool drops): items dropped then were already discarded by a
            // cleanup, which real threads cannot tell apart from a lost
            // item. Without cleanups nothing may be left behind.
            out.violation = Some(format!(
                "after every used slot was drained, dropping the pool still dropped {held_by_pool:x?}: items unreachable by Get at quiescence"
            ));
        }
    }
    out
}
