//! Go's `sync.Pool` benchmark shapes (Pool, Overflow, Starvation with and
//! without New) for victim-pool and its peers, per thread count, reported
//! like Go's RunParallel: wall time / all iterations of the shape's loop body.
//!
//! `BENCH_QUICK=1` shortens warm-up and measurement for a run of a few
//! minutes. Numbers are only comparable within one run (see benches/README.md).
//!
//! `BENCH_FALLBACK=1` (with `VICTIM_POOL_NO_MEMBARRIER=1`, which the run
//! must set: it is checked) runs only the "victim-pool fallback" peer, for
//! every shape and item: victim-pool with the fallback fence pair.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    quick, Alloc, Array128, ArrayQ, Item, LinearPool, ObjectPool, Opool, Peer, Reference, SegQ,
    Team, TlsFree, TlsVec, Victim, VictimFallback, VictimLocal, THREADS,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use victim_pool::FenceMode;

/// Items a thread puts per iteration in Starvation (Go: 100 − 33 %).
const STARVED: usize = 67;
/// Items per burst in Overflow and Gets per iteration in Starvation.
const BURST: usize = 100;

#[derive(Clone, Copy)]
enum Shape {
    /// Put then Get.
    Pool,
    /// 100 Puts then 100 Gets.
    Overflow,
    /// 67 Puts then 100 Gets without New (`try_get`).
    Starvation,
    /// 67 Puts then 100 Gets with New.
    StarvationNew,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Pool => "pool",
            Shape::Overflow => "overflow",
            Shape::Starvation => "starvation",
            Shape::StarvationNew => "starvation_new",
        }
    }

    /// Items a worker holds between iterations.
    fn held(self) -> usize {
        match self {
            Shape::Pool => 1,
            Shape::Overflow => BURST,
            Shape::Starvation | Shape::StarvationNew => STARVED,
        }
    }

    fn applies<T: Item, P: Peer<T>>(self) -> bool {
        match self {
            Shape::Pool | Shape::Overflow => true,
            Shape::Starvation => P::HAS_TRY_GET && P::CAN_DISCARD,
            Shape::StarvationNew => P::CAN_DISCARD,
        }
    }
}

/// A worker's state: its context and the items it holds between iterations.
struct Worker<'a, T: Item, P: Peer<T> + 'a> {
    cx: P::Cx<'a>,
    held: Vec<P::Held<'a>>,
}

/// One iteration of `shape`.
#[inline]
fn step<'a, T: Item, P: Peer<T>>(shape: Shape, pool: &'a P, w: &mut Worker<'a, T, P>) {
    let Worker { cx, held } = w;
    match shape {
        Shape::Pool => {
            if let Some(h) = held.pop() {
                pool.put(cx, h);
            }
            let mut h = pool.get(cx);
            P::touch(&mut h);
            held.push(h);
        }
        Shape::Overflow => {
            for h in held.drain(..) {
                pool.put(cx, h);
            }
            for _ in 0..BURST {
                let mut h = pool.get(cx);
                P::touch(&mut h);
                held.push(h);
            }
        }
        Shape::Starvation | Shape::StarvationNew => {
            for h in held.drain(..) {
                pool.put(cx, h);
            }
            for _ in 0..BURST {
                let got = if matches!(shape, Shape::Starvation) {
                    pool.try_get(cx)
                } else {
                    Some(pool.get(cx))
                };
                if let Some(mut h) = got {
                    P::touch(&mut h);
                    held.push(h);
                }
            }
            // Keep 67 for the next round's Puts: extra Gets are dropped
            // (Go discards every Get result), a thread robbed by others
            // brings in fresh ones (outside the timed pool calls' logic, but
            // inside the iteration, for every pool alike).
            while held.len() > STARVED {
                let h = held.pop().expect("len > STARVED");
                pool.discard(h);
            }
            while held.len() < STARVED {
                let h = pool.fresh(cx);
                held.push(h);
            }
        }
    }
}

fn run<T: Item, P: Peer<T>>(c: &mut Criterion, shape: Shape) {
    if !shape.applies::<T, P>() {
        return;
    }
    let mut group = c.benchmark_group(format!("{}.{}", shape.name(), T::NAME));
    if quick() {
        group
            .warm_up_time(Duration::from_millis(150))
            .measurement_time(Duration::from_millis(400))
            .sample_size(10);
    } else {
        group
            .warm_up_time(Duration::from_millis(700))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
    }
    for threads in THREADS {
        let pool = P::build(Arc::new(T::fresh));
        let pool = &pool;
        std::thread::scope(|scope| {
            let team = Team::start(
                scope,
                threads,
                move || {
                    let cx = pool.cx();
                    let held = (0..shape.held()).map(|_| pool.get(&cx)).collect();
                    Worker::<T, P> { cx, held }
                },
                move |w| step(shape, pool, w),
            );
            group.bench_with_input(BenchmarkId::new(P::NAME, threads), &threads, |b, _| {
                b.iter_custom(|iters| team.run(iters))
            });
            team.stop();
        });
    }
    group.finish();
}

/// True when `BENCH_FALLBACK` is set to anything but `0`/empty.
fn fallback_run() -> bool {
    std::env::var("BENCH_FALLBACK").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn all_pools<T: TlsFree>(c: &mut Criterion, shape: Shape) {
    if fallback_run() {
        run::<T, VictimFallback<T>>(c, shape);
        return;
    }
    run::<T, TlsVec<T>>(c, shape);
    run::<T, Victim<T>>(c, shape);
    run::<T, VictimLocal<T>>(c, shape);
    run::<T, Reference<T>>(c, shape);
    run::<T, Alloc<T>>(c, shape);
    run::<T, ArrayQ<T>>(c, shape);
    run::<T, SegQ<T>>(c, shape);
    run::<T, ObjectPool<T>>(c, shape);
    run::<T, LinearPool<T>>(c, shape);
    run::<T, Opool<T>>(c, shape);
}

fn shapes(c: &mut Criterion) {
    // Before any pool is built: `fence_mode` reads VICTIM_POOL_NO_MEMBARRIER
    // once, and the answer holds for the whole process.
    let mode = victim_pool::fence_mode();
    if fallback_run() {
        assert!(
            mode == FenceMode::Fallback,
            "BENCH_FALLBACK=1 but victim-pool runs in {mode:?} mode: set \
             VICTIM_POOL_NO_MEMBARRIER=1 too (benches/run.sh does), or the \
             \"victim-pool fallback\" rows would measure the membarrier fences"
        );
    }
    // For the report: which fence pair each run's victim-pool rows used
    // (a "normal" run without membarrier would make the fallback ratio 1).
    if let Some(dir) = std::env::var_os("BENCH_REPORT_DIR") {
        let run = if fallback_run() { "fallback" } else { "normal" };
        let path = std::path::Path::new(&dir).join(format!("fence-mode-{run}.txt"));
        std::fs::write(&path, format!("{mode:?}\n"))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    for shape in [
        Shape::Pool,
        Shape::Overflow,
        Shape::Starvation,
        Shape::StarvationNew,
    ] {
        all_pools::<Vec<u8>>(c, shape);
        all_pools::<Box<u64>>(c, shape);
        all_pools::<Array128>(c, shape);
    }
}

criterion_group!(benches, shapes);
criterion_main!(benches);
