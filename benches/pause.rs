//! Go's BenchmarkPoolSTW and BenchmarkPoolExpensiveNew, for victim-pool.
//!
//! - Cleanup pause: 100,000 items are put, then one `Pool::cleanup` runs on
//!   the calling thread; its duration is recorded per round (p50/p95), while
//!   0, 1 or 3 other threads run Put+Get pairs on the same pool and record
//!   each pair's latency, split into "during a cleanup" and "otherwise".
//! - ExpensiveNew: New sleeps 1 ms; every thread gets 100 items (doing a
//!   32 KiB allocation per item as work), then puts them back, while a
//!   `Sweeper` runs `cleanup_all` every millisecond; reports ns/op and New
//!   calls per op.
//!
//! Results go to `$BENCH_REPORT_DIR/pause.json` (default
//! `target/bench-report`). `BENCH_QUICK=1` runs fewer rounds.

mod common;

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{quick, THREADS};
use victim_pool::{Pool, Sweeper};

/// Items pooled before each cleanup (Go's BenchmarkPoolSTW).
const STW_ITEMS: usize = 100_000;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64) * p) as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One cleanup-pause configuration's results, as a JSON object.
///
/// `detached`: use `Pool::cleanup_detached` and drop what it released on a
/// separate dropper thread (Go frees in its concurrent sweep, not in the
/// STW), so the pause is the unlinking alone.
fn cleanup_pause<T: Send + 'static>(
    item: &str,
    make: fn() -> T,
    workers: usize,
    detached: bool,
) -> String {
    let rounds = if quick() { 12 } else { 50 };
    let pool: Pool<T> = Pool::new(make);
    let cleaning = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let mut pauses = Vec::with_capacity(rounds);
    let (to_dropper, dropper_rx) = std::sync::mpsc::channel::<victim_pool::Released<T>>();
    let (during, outside) = std::thread::scope(|s| {
        s.spawn(move || dropper_rx.into_iter().for_each(drop));
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (pool, cleaning, stop) = (&pool, &cleaning, &stop);
                s.spawn(move || {
                    let mut during = Vec::with_capacity(1 << 16);
                    let mut outside = Vec::with_capacity(1 << 20);
                    let mut x = make();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let before = cleaning.load(Ordering::SeqCst);
                        let t0 = Instant::now();
                        pool.put(x);
                        x = pool.get();
                        let dt = t0.elapsed().as_nanos() as u64;
                        let after = cleaning.load(Ordering::SeqCst);
                        n += 1;
                        if before || after {
                            during.push(dt);
                        } else if n % 8 == 0 && outside.len() < (4 << 20) {
                            outside.push(dt);
                        }
                    }
                    (during, outside)
                })
            })
            .collect();
        for round in 0..=rounds {
            let items: Vec<T> = (0..STW_ITEMS).map(|_| make()).collect();
            for v in items {
                pool.put(v);
            }
            cleaning.store(true, Ordering::SeqCst);
            let t0 = Instant::now();
            let dt = if detached {
                let released = pool.cleanup_detached();
                let dt = t0.elapsed().as_nanos() as u64;
                to_dropper.send(released).expect("dropper thread alive");
                dt
            } else {
                pool.cleanup();
                t0.elapsed().as_nanos() as u64
            };
            cleaning.store(false, Ordering::SeqCst);
            // Round 0 has no victim to drop yet: warm-up, not recorded.
            if round > 0 {
                pauses.push(dt);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
        drop(to_dropper);
        let mut during = Vec::new();
        let mut outside = Vec::new();
        for h in handles {
            let (d, o) = h.join().expect("latency worker panicked");
            during.extend(d);
            outside.extend(o);
        }
        (during, outside)
    });
    pool.cleanup();
    pool.cleanup();
    pauses.sort_unstable();
    let mut during = during;
    let mut outside = outside;
    during.sort_unstable();
    outside.sort_unstable();
    let mean = pauses.iter().sum::<u64>() / pauses.len().max(1) as u64;
    let mut o = String::new();
    let item = if detached {
        format!("{item} (detached)")
    } else {
        item.to_string()
    };
    write!(
        o,
        "{{\"item\":\"{item}\",\"workers\":{workers},\"rounds\":{},\"pause_mean_ns\":{mean},\
         \"pause_p50_ns\":{},\"pause_p95_ns\":{},\"pause_max_ns\":{},",
        pauses.len(),
        percentile(&pauses, 0.50),
        percentile(&pauses, 0.95),
        pauses.last().copied().unwrap_or(0),
    )
    .unwrap();
    for (name, v) in [("during", &during), ("outside", &outside)] {
        write!(
            o,
            "\"{name}_samples\":{},\"{name}_p50_ns\":{},\"{name}_p99_ns\":{},\
             \"{name}_p999_ns\":{},\"{name}_max_ns\":{},",
            v.len(),
            percentile(v, 0.50),
            percentile(v, 0.99),
            percentile(v, 0.999),
            v.last().copied().unwrap_or(0),
        )
        .unwrap();
    }
    o.pop();
    o.push('}');
    eprintln!("cleanup {o}");
    o
}

/// ExpensiveNew through `Pool::get`/`put` (or a `LocalHandle` with `local`).
fn expensive_new(threads: usize, local: bool, sweep: Duration) -> String {
    let news = Arc::new(AtomicU64::new(0));
    let counter = news.clone();
    let pool: Pool<Box<u64>> = Pool::new(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(1));
        Box::new(42)
    });
    let run_for = if quick() {
        Duration::from_millis(700)
    } else {
        Duration::from_secs(3)
    };
    // Warm-up: fill every thread's slot once, then reset the counter.
    let ops = AtomicU64::new(0);
    let one_op = |items: &mut Vec<Box<u64>>, handle: Option<&victim_pool::LocalHandle<'_, _>>| {
        for _ in 0..100 {
            let v = match handle {
                Some(h) => h.get(),
                None => pool.get(),
            };
            items.push(v);
            black_box(vec![0u8; 32 << 10]);
        }
        for v in items.drain(..) {
            match handle {
                Some(h) => h.put(v),
                None => pool.put(v),
            }
        }
    };
    let sweeper = Sweeper::spawn(sweep);
    let mut elapsed = Duration::ZERO;
    let mut new_calls = 0;
    let start = std::sync::Barrier::new(threads + 1);
    let measuring = std::sync::Barrier::new(threads + 1);
    let done = std::sync::Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (start, measuring, done, stop, ops, one_op) =
                (&start, &measuring, &done, &stop, &ops, &one_op);
            let pool = &pool;
            s.spawn(move || {
                let handle = local.then(|| pool.local());
                let mut items = Vec::with_capacity(100);
                start.wait();
                one_op(&mut items, handle.as_ref());
                measuring.wait();
                while !stop.load(Ordering::Relaxed) {
                    one_op(&mut items, handle.as_ref());
                    ops.fetch_add(1, Ordering::Relaxed);
                }
                done.wait();
            });
        }
        start.wait();
        measuring.wait();
        let base = news.load(Ordering::Relaxed);
        let t0 = Instant::now();
        std::thread::sleep(run_for);
        stop.store(true, Ordering::Relaxed);
        done.wait();
        elapsed = t0.elapsed();
        new_calls = news.load(Ordering::Relaxed) - base;
    });
    drop(sweeper);
    let ops = ops.load(Ordering::Relaxed).max(1);
    let cleanups = elapsed.as_secs_f64() / sweep.as_secs_f64();
    let o = format!(
        "{{\"pool\":\"{}\",\"threads\":{threads},\"ops\":{ops},\"ns_per_op\":{:.0},\
         \"new_per_op\":{:.4},\"cleanups_per_op\":{:.4},\"sweep_ms\":{:.1}}}",
        if local {
            "victim-pool local"
        } else {
            "victim-pool"
        },
        elapsed.as_nanos() as f64 / ops as f64,
        new_calls as f64 / ops as f64,
        cleanups / ops as f64,
        sweep.as_secs_f64() * 1e3,
    );
    eprintln!("expensive_new {o}");
    o
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let dir = std::env::var("BENCH_REPORT_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-report").into());
    std::fs::create_dir_all(&dir).expect("create report dir");
    let mut cleanup = Vec::new();
    for workers in [0, 1, 3] {
        for detached in [false, true] {
            cleanup.push(cleanup_pause("u64", || 42u64, workers, detached));
            cleanup.push(cleanup_pause(
                "box_u64",
                || Box::new(42u64),
                workers,
                detached,
            ));
            cleanup.push(cleanup_pause(
                "vec1k",
                || Vec::<u8>::with_capacity(1024),
                workers,
                detached,
            ));
        }
    }
    let mut expensive = Vec::new();
    // Go's GC runs about every 3 iterations of this shape (its GCs/op is
    // ~0.3); a 0.1 ms sweep gets near that here, 1 ms is a calmer cadence.
    for sweep_us in [1000, 100] {
        for threads in THREADS {
            for local in [false, true] {
                let sweep = Duration::from_micros(sweep_us);
                expensive.push(expensive_new(threads, local, sweep));
            }
        }
    }
    let json = format!(
        "{{\"stw_items\":{STW_ITEMS},\"cleanup\":[{}],\"expensive_new\":[{}]}}\n",
        cleanup.join(","),
        expensive.join(",")
    );
    let path = format!("{dir}/pause.json");
    std::fs::write(&path, json).expect("write pause.json");
    eprintln!("wrote {path}");
}
