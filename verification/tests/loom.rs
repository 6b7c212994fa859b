//! Exhaustive models under loom (C11 weak memory, bounded preemptions).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p victim-pool-verification
//! --test loom --release`. `LOOM_MAX_PREEMPTIONS` sets the bound (default
//! here: 3); `LOOM_CHECKPOINT_FILE` + `LOOM_CHECKPOINT_INTERVAL=1` records
//! the failing schedule for replay. Every slot access of the core goes
//! through loom's `UnsafeCell`, so a write racing a read (any typ-then-val
//! violation) fails the model even when no value is visibly corrupted.
#![cfg(loom)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use loom::thread;
use victim_pool::chain::PoolChain;
use victim_pool::dequeue::PoolDequeue;
use victim_pool::Pool;
use victim_pool_verification::ledger::{Ledger, Tracked};
use victim_pool_verification::lin::{DequeOp, Event};
use victim_pool_verification::Clock;

/// Runs `f` under loom with the bound from `LOOM_MAX_PREEMPTIONS` (default
/// 3) and prints how long the exploration took.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(3);
    }
    let bound = builder.preemption_bound;
    let start = Instant::now();
    builder.check(f);
    eprintln!(
        "loom model {name}: preemption bound {bound:?}, {:.2?}",
        start.elapsed()
    );
}

/// A history shared by the threads of one execution.
#[derive(Default)]
struct Recorder {
    clock: Clock,
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    fn record<R>(&self, thread: usize, f: impl FnOnce() -> R, op: impl FnOnce(&R) -> DequeOp) -> R {
        let call = self.clock.tick();
        let result = f();
        let ret = self.clock.tick();
        self.events.lock().unwrap().push(Event {
            thread,
            op: op(&result),
            call,
            ret,
        });
        result
    }

    /// Checks conservation: every pushed value is popped exactly once,
    /// counting `drained` (popped after the join), and `capacity` bounds
    /// the successful pushes of an empty-started ring that nobody popped.
    ///
    /// No real-time linearizability check here: the stamps come from a
    /// `std` counter that loom does not see, so "returned before" does not
    /// mean "happens-before" in loom's weak-memory executions (a Relaxed
    /// load may legally read an older value). Shuttle, which is
    /// sequentially consistent, checks linearizability.
    fn check(&self, capacity: Option<usize>, drained: &[u64]) {
        let events = self.events.lock().unwrap().clone();
        if let Some(capacity) = capacity {
            let pushed = events
                .iter()
                .filter(|e| matches!(e.op, DequeOp::PushHead(_, true)))
                .count();
            let popped = events
                .iter()
                .filter(|e| matches!(e.op, DequeOp::PopHead(Some(_)) | DequeOp::PopTail(Some(_))))
                .count();
            assert!(
                pushed <= capacity + popped,
                "more pushes succeeded than fit"
            );
        }
        let mut pushed: Vec<u64> = events
            .iter()
            .filter_map(|e| match e.op {
                DequeOp::PushHead(v, true) => Some(v),
                _ => None,
            })
            .collect();
        let mut popped: Vec<u64> = events
            .iter()
            .filter_map(|e| match e.op {
                DequeOp::PopHead(v) | DequeOp::PopTail(v) => v,
                _ => None,
            })
            .chain(drained.iter().copied())
            .collect();
        pushed.sort_unstable();
        popped.sort_unstable();
        assert_eq!(pushed, popped, "conservation: pushed = popped + drained");
    }
}

/// 1 producer + 2 consumers on a ring of `capacity`, indices starting just
/// below 2^32 so the run crosses wraparound. The producer pushes
/// `capacity + 2` values (so it reuses slots a consumer may still be
/// reading) and pops once at the head.
fn dequeue_model(capacity: usize, pushes: u64) {
    let rec = Arc::new(Recorder::default());
    let (mut producer, stealer) = PoolDequeue::<u64>::with_start_index(capacity, u32::MAX - 1);
    let consumers: Vec<_> = (1..=2)
        .map(|t| {
            let (rec, stealer) = (rec.clone(), stealer.clone());
            thread::spawn(move || {
                rec.record(t, || stealer.pop_tail(), |r| DequeOp::PopTail(*r));
            })
        })
        .collect();
    for v in 1..=pushes {
        rec.record(
            0,
            || producer.push_head(v).is_ok(),
            |&ok| DequeOp::PushHead(v, ok),
        );
    }
    rec.record(0, || producer.pop_head(), |r| DequeOp::PopHead(*r));
    for c in consumers {
        c.join().unwrap();
    }
    let mut drained = Vec::new();
    while let Some(v) = stealer.pop_tail() {
        drained.push(v);
    }
    rec.check(Some(capacity), &drained);
}

#[test]
fn dequeue_cap2_wraparound() {
    model("dequeue_cap2_wraparound", || dequeue_model(2, 4));
}

#[test]
fn dequeue_cap4_wraparound() {
    model("dequeue_cap4_wraparound", || dequeue_model(4, 6));
}

/// Chain growth across a segment boundary (loom segments: 2 then 4 slots)
/// while two consumers unlink the drained tail segment and the producer
/// walks back through `prev`.
#[test]
fn chain_growth_unlink_prev_walk() {
    model("chain_growth_unlink_prev_walk", || {
        let rec = Arc::new(Recorder::default());
        let (mut producer, stealer) = PoolChain::<u64>::new();
        let consumers: Vec<_> = (1..=2)
            .map(|t| {
                let (rec, stealer) = (rec.clone(), stealer.clone());
                thread::spawn(move || {
                    for _ in 0..2 {
                        rec.record(t, || stealer.pop_tail(), |r| DequeOp::PopTail(*r));
                    }
                })
            })
            .collect();
        for v in 1..=3 {
            rec.record(0, || producer.push_head(v), |_| DequeOp::PushHead(v, true));
        }
        for _ in 0..2 {
            rec.record(0, || producer.pop_head(), |r| DequeOp::PopHead(*r));
        }
        for c in consumers {
            c.join().unwrap();
        }
        let mut drained = Vec::new();
        while let Some(v) = producer.pop_head() {
            drained.push(v);
        }
        rec.check(None, &drained);
    });
}

/// `pop_tail` must load `next` before it pops: a consumer that finds the
/// head segment empty must not unlink it if the producer refilled it and
/// grew meanwhile.
#[test]
fn chain_refill_then_grow() {
    model("chain_refill_then_grow", || {
        let rec = Arc::new(Recorder::default());
        let (mut producer, stealer) = PoolChain::<u64>::new();
        rec.record(0, || producer.push_head(1), |_| DequeOp::PushHead(1, true));
        rec.record(0, || producer.pop_head(), |r| DequeOp::PopHead(*r));
        let consumer = {
            let (rec, stealer) = (rec.clone(), stealer.clone());
            thread::spawn(move || {
                rec.record(1, || stealer.pop_tail(), |r| DequeOp::PopTail(*r));
            })
        };
        for v in 2..=4 {
            rec.record(0, || producer.push_head(v), |_| DequeOp::PushHead(v, true));
        }
        consumer.join().unwrap();
        let mut drained = Vec::new();
        while let Some(v) = stealer.pop_tail() {
            drained.push(v);
        }
        rec.check(None, &drained);
    });
}

/// The reclamation scheme: a consumer unlinks the drained first segment
/// while another consumer may still be inside it and the producer, finding
/// the chain empty, reclaims. Loom checks the atomics and the slot cells of
/// the protocol; a segment freed too early is caught by the facade's
/// use-after-free check (src/sync/trace.rs: a freed segment's objects
/// carry a broken seal) when the consumer touches it again, and Miri checks
/// the same under real memory (tests/stress.rs,
/// `chain_reclaim_under_contention`).
#[test]
fn chain_reclaim() {
    model("chain_reclaim", || {
        let rec = Arc::new(Recorder::default());
        let (mut producer, stealer) = PoolChain::<u64>::new();
        for v in 1..=3 {
            rec.record(0, || producer.push_head(v), |_| DequeOp::PushHead(v, true));
        }
        let consumers: Vec<_> = [(1, 2), (2, 1)]
            .into_iter()
            .map(|(t, pops)| {
                let (rec, stealer) = (rec.clone(), stealer.clone());
                thread::spawn(move || {
                    for _ in 0..pops {
                        rec.record(t, || stealer.pop_tail(), |r| DequeOp::PopTail(*r));
                    }
                })
            })
            .collect();
        rec.record(0, || producer.pop_head(), |r| DequeOp::PopHead(*r));
        rec.record(0, || producer.pop_head(), |r| DequeOp::PopHead(*r));
        for c in consumers {
            c.join().unwrap();
        }
        let mut drained = Vec::new();
        while let Some(v) = producer.pop_head() {
            drained.push(v);
        }
        rec.check(None, &drained);
        assert!(
            producer.allocated_segments() <= 1,
            "a drained chain shrinks to its head segment"
        );
    });
}

/// Checks a pool run: nothing got twice or fabricated, and (after the pool
/// is drained and dropped on this thread) every item dropped exactly once.
///
/// Harness rule for every pool model: only spawned threads use the pool's
/// thread-bound API (`put`, `try_get`, `get`, `local`), and each calls
/// [`victim_pool::release_thread_slot`] as its last statement. Loom runs a
/// spawned thread's thread-local destructors after the model's globals
/// (`lazy_static`s) are gone when the main thread finishes first, and
/// `IdLease::drop` would then lock the dropped id allocator (a loom panic,
/// "index out of bounds" in `rt/object.rs`). The main thread only calls
/// `cleanup` and `as_slot`, which lease nothing.
fn finish_pool(pool: Arc<Pool<Tracked>>, ledger: &Arc<Ledger>, got: Vec<u64>, created: u64) {
    let mut pool = Arc::try_unwrap(pool).expect("threads joined");
    let mut all = got;
    for slot in 0..4 {
        while let Some(item) = pool.as_slot(slot).try_get() {
            all.push(item.id());
        }
    }
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        all.len(),
        "an item was returned twice: {all:?}"
    );
    assert!(
        sorted.iter().all(|&id| id < created),
        "fabricated item: {all:?}"
    );
    drop(pool);
    ledger.assert_each_dropped_once(0..created);
}

/// A thread that tries one Get (a steal, when its own slot is empty) and
/// records what it got.
fn spawn_thief(pool: &Arc<Pool<Tracked>>, got: &Arc<Mutex<Vec<u64>>>) -> thread::JoinHandle<()> {
    let (pool, got) = (pool.clone(), got.clone());
    thread::spawn(move || {
        if let Some(item) = pool.try_get() {
            got.lock().unwrap().push(item.id());
        }
        victim_pool::release_thread_slot();
    })
}

/// Two owners put and get (one overflows into its shared chain, the other
/// steals it) while a third thread runs `cleanup`: the Dekker handshake on
/// `pin` / `claim`, the chain swap and the grace period.
#[test]
fn pool_put_get_steal_with_cleanup() {
    model("pool_put_get_steal_with_cleanup", || {
        let ledger = Ledger::new();
        let pool = Arc::new(Pool::<Tracked>::builder().build());
        let got = Arc::new(Mutex::new(Vec::new()));
        let owner = {
            let (pool, ledger, got) = (pool.clone(), ledger.clone(), got.clone());
            thread::spawn(move || {
                pool.put(ledger.item(0));
                pool.put(ledger.item(1));
                if let Some(item) = pool.try_get() {
                    got.lock().unwrap().push(item.id());
                }
                victim_pool::release_thread_slot();
            })
        };
        let thief = spawn_thief(&pool, &got);
        pool.cleanup();
        owner.join().unwrap();
        thief.join().unwrap();
        let got = got.lock().unwrap().clone();
        finish_pool(pool, &ledger, got, 2);
    });
}

/// A pool's chain keeps the segments it unlinks until the chain itself is
/// retired (DESIGN.md §4.1), since its thieves announce nothing: the owner
/// overflows its private slot past the chain's first segment (2 slots under
/// loom) and takes everything back — its last `pop_head` unlinks the
/// drained first segment and reclaims — while a thief steals at the tail.
/// The mutant `pooled_chain_frees_unlinked` frees the segment there, under
/// the thief (a use after free, which the facade reports).
#[test]
fn pooled_chain_keeps_unlinked_segments() {
    model("pooled_chain_keeps_unlinked_segments", || {
        let ledger = Ledger::new();
        let pool = Arc::new(Pool::<Tracked>::builder().build());
        let got = Arc::new(Mutex::new(Vec::new()));
        let owner = {
            let (pool, ledger, got) = (pool.clone(), ledger.clone(), got.clone());
            thread::spawn(move || {
                for id in 0..4 {
                    pool.put(ledger.item(id));
                }
                while let Some(item) = pool.try_get() {
                    got.lock().unwrap().push(item.id());
                }
                victim_pool::release_thread_slot();
            })
        };
        let thief = spawn_thief(&pool, &got);
        owner.join().unwrap();
        thief.join().unwrap();
        let got = got.lock().unwrap().clone();
        finish_pool(pool, &ledger, got, 4);
    });
}

/// The owner puts, gets and puts again while this thread runs two cleanups.
fn private_vs_cleanup() {
    let ledger = Ledger::new();
    let pool = Arc::new(Pool::<Tracked>::builder().build());
    let got = Arc::new(Mutex::new(Vec::new()));
    let owner = {
        let (pool, ledger, got) = (pool.clone(), ledger.clone(), got.clone());
        thread::spawn(move || {
            pool.put(ledger.item(0));
            if let Some(item) = pool.try_get() {
                got.lock().unwrap().push(item.id());
            }
            pool.put(ledger.item(1));
            victim_pool::release_thread_slot();
        })
    };
    pool.cleanup();
    pool.cleanup();
    owner.join().unwrap();
    let got = got.lock().unwrap().clone();
    finish_pool(pool, &ledger, got, 2);
}

/// An owner's private item races a cleanup: either the cleanup rotates it
/// (owner idle) or the owner keeps it (owner active), never both. A second
/// cleanup then drops what the first moved to the victim.
#[test]
fn pool_private_vs_cleanup() {
    model("pool_private_vs_cleanup", private_vs_cleanup);
}

/// An owner inside a Get or Put while a cleanup runs is left alone (no
/// rotation of its private fields) and catches up itself at its next entry,
/// when it reads the cleanup's count in `gate`. It must then see that
/// cleanup's chain swap too (the owner's invariant check on `swapped_by`):
/// the mutant `count_before_swap` publishes the count first. The yield lets
/// the owner start its first operation without spending a preemption, so
/// the bound is left for stopping it inside that operation and the cleanup
/// between its `gate` store and its swap.
#[test]
fn pool_owner_catches_up_after_the_swap() {
    model("pool_owner_catches_up_after_the_swap", || {
        let ledger = Ledger::new();
        let pool = Arc::new(Pool::<Tracked>::builder().build());
        let got = Arc::new(Mutex::new(Vec::new()));
        let owner = {
            let (pool, ledger, got) = (pool.clone(), ledger.clone(), got.clone());
            thread::spawn(move || {
                pool.put(ledger.item(0));
                if let Some(item) = pool.try_get() {
                    got.lock().unwrap().push(item.id());
                }
                victim_pool::release_thread_slot();
            })
        };
        thread::yield_now();
        pool.cleanup();
        owner.join().unwrap();
        let got = got.lock().unwrap().clone();
        finish_pool(pool, &ledger, got, 1);
    });
}

/// The same race with every heavy fence refused by the kernel (fault
/// injection; the owners' light fences are then compiler-only, modelled as
/// no fence): cleanup fails closed, touching no private field, so the owner
/// and cleanup never race on `owned` and nothing is lost or doubled.
#[test]
fn pool_private_vs_cleanup_with_refused_fence() {
    use victim_pool::fault_injection::{self, Fault};
    fault_injection::inject(Fault::HeavyFence, 0, u64::MAX);
    model(
        "pool_private_vs_cleanup_with_refused_fence",
        private_vs_cleanup,
    );
    assert!(fault_injection::injected(Fault::HeavyFence) > 0);
    fault_injection::clear();
}
