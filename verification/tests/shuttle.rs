//! Randomized (and PCT) schedules under shuttle: many threads, longer
//! histories, differential checks against the specification.
//!
//! Run: `RUSTFLAGS="--cfg shuttle" cargo test -p victim-pool-verification
//! --test shuttle --release`. Each test explores for `SHUTTLE_SECS` seconds
//! (default 5) per scheduler, from seed `VERIFY_SEED` (default fixed). A
//! failure prints the failing schedule; `SHUTTLE_REPLAY='<schedule>'`
//! replays it (run the one failing test by name). The op scripts are drawn
//! from shuttle's own random source, so the schedule string fixes them too.
//!
//! Shuttle runs every atomic as `SeqCst`: these tests find interleaving
//! bugs (lost items, duplicates, wrong order, broken handshakes), not
//! missing `Release`/`Acquire` (that is loom's and TSan's job).
#![cfg(shuttle)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shuttle::rand::{thread_rng, RngCore};
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{thread, Config, Runner};
use victim_pool::chain::PoolChain;
use victim_pool::dequeue::PoolDequeue;
use victim_pool::Pool;
use victim_pool_verification::ledger::{Ledger, Tracked};
use victim_pool_verification::lin::{check_deque, DequeOp, Event};
use victim_pool_verification::pool_model::{check_pool, run_probe, PoolEvent, PoolOp};
use victim_pool_verification::rng::{seed_from_env, Rng};
use victim_pool_verification::Clock;

/// Explores `f` with the random scheduler, then with PCT (depth 3), each
/// for `SHUTTLE_SECS` seconds; or replays `SHUTTLE_REPLAY`.
fn explore(name: &str, f: impl Fn() + Send + Sync + 'static) {
    if let Ok(schedule) = std::env::var("SHUTTLE_REPLAY") {
        shuttle::replay(f, &schedule);
        return;
    }
    let secs: f64 = std::env::var("SHUTTLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let seed = seed_from_env(0x5eed_0001);
    let f = Arc::new(f);
    let mut total = 0;
    let start = Instant::now();
    for pct in [false, true] {
        let mut config = Config::new();
        config.max_time = Some(Duration::from_secs_f64(secs));
        config.silence_warnings = true;
        let g = f.clone();
        let body = move || g();
        total += if pct {
            Runner::new(PctScheduler::new_from_seed(seed, 3, usize::MAX), config).run(body)
        } else {
            Runner::new(RandomScheduler::new_from_seed(seed, usize::MAX), config).run(body)
        };
    }
    let elapsed = start.elapsed().as_secs_f64();
    eprintln!(
        "shuttle {name}: {total} schedules in {elapsed:.1}s ({:.0}/s), seed {seed}",
        total as f64 / elapsed
    );
}

/// A per-execution random script source, driven by shuttle's (replayable)
/// randomness.
fn script_rng() -> Rng {
    Rng::new(thread_rng().next_u64())
}

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

    fn check(&self, capacity: Option<usize>, drained: &[u64]) {
        let events = self.events.lock().unwrap().clone();
        if let Err(e) = check_deque(&events, capacity, &[]) {
            panic!("{e}");
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

/// Producer script: `true` = push, `false` = pop_head.
fn producer_script(rng: &mut Rng, len: usize) -> Vec<bool> {
    (0..len).map(|_| rng.below(3) != 0).collect()
}

#[test]
fn dequeue_linearizable() {
    explore("dequeue_linearizable", || {
        let mut rng = script_rng();
        let capacity = [2, 4][rng.below(2) as usize];
        let consumers = 2 + rng.below(3) as usize;
        let script = producer_script(&mut rng, 10);
        let rec = Arc::new(Recorder::default());
        let (mut producer, stealer) = PoolDequeue::<u64>::with_start_index(capacity, u32::MAX - 3);
        let handles: Vec<_> = (1..=consumers)
            .map(|t| {
                let (rec, stealer) = (rec.clone(), stealer.clone());
                let pops = 1 + (t % 3);
                thread::spawn(move || {
                    for _ in 0..pops {
                        rec.record(t, || stealer.pop_tail(), |r| DequeOp::PopTail(*r));
                    }
                })
            })
            .collect();
        for (v, push) in (1u64..).zip(script) {
            if push {
                rec.record(
                    0,
                    || producer.push_head(v).is_ok(),
                    |&ok| DequeOp::PushHead(v, ok),
                );
            } else {
                rec.record(0, || producer.pop_head(), |r| DequeOp::PopHead(*r));
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        let mut drained = Vec::new();
        while let Some(v) = stealer.pop_tail() {
            drained.push(v);
        }
        rec.check(Some(capacity), &drained);
    });
}

#[test]
fn chain_linearizable() {
    explore("chain_linearizable", || {
        let mut rng = script_rng();
        let consumers = 2 + rng.below(3) as usize;
        let script = producer_script(&mut rng, 16);
        let rec = Arc::new(Recorder::default());
        let (mut producer, stealer) = PoolChain::<u64>::new();
        let handles: Vec<_> = (1..=consumers)
            .map(|t| {
                let (rec, stealer) = (rec.clone(), stealer.clone());
                let pops = 2 + (t % 3);
                thread::spawn(move || {
                    for _ in 0..pops {
                        rec.record(t, || stealer.pop_tail(), |r| DequeOp::PopTail(*r));
                    }
                })
            })
            .collect();
        for (v, push) in (1u64..).zip(script) {
            if push {
                rec.record(0, || producer.push_head(v), |_| DequeOp::PushHead(v, true));
            } else {
                rec.record(0, || producer.pop_head(), |r| DequeOp::PopHead(*r));
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        let mut drained = Vec::new();
        while let Some(v) = producer.pop_head() {
            drained.push(v);
        }
        rec.check(None, &drained);
    });
}

/// One thread's pool operation.
#[derive(Clone, Copy, Debug)]
enum Step {
    Put,
    Get,
    Cleanup,
}

/// Shared state of one pool scenario.
struct PoolRun {
    pool: Pool<Tracked>,
    ledger: Arc<Ledger>,
    clock: Clock,
    events: Mutex<Vec<PoolEvent>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl PoolRun {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            pool: Pool::builder().build(),
            ledger: Ledger::new(),
            clock: Clock::new(),
            events: Mutex::new(Vec::new()),
            next_id: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Runs `steps` as the calling thread; returns the ids it got.
    fn run(&self, steps: &[Step], check_private: bool) -> Vec<u64> {
        let handle = self.pool.local();
        let slot = handle.slot();
        let mut got = Vec::new();
        let mut after_put = false;
        for &step in steps {
            let call = self.clock.tick();
            let op = match step {
                Step::Put => {
                    let id = self
                        .next_id
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    handle.put(self.ledger.item(id));
                    PoolOp::Put(id)
                }
                Step::Get => {
                    let item = handle.try_get();
                    let id = item.as_ref().map(Tracked::id);
                    if check_private && after_put {
                        // Our private slot (or shared head) holds an item
                        // nobody else can take: never a miss.
                        assert!(id.is_some(), "Get right after own Put missed");
                    }
                    got.extend(id);
                    PoolOp::Get(id)
                }
                Step::Cleanup => {
                    self.pool.cleanup();
                    PoolOp::Cleanup
                }
            };
            let ret = self.clock.tick();
            after_put = matches!(step, Step::Put);
            self.events.lock().unwrap().push(PoolEvent {
                slot,
                op,
                call,
                ret,
            });
        }
        got
    }
}

/// Threads run scripts on one pool; then: no item got twice or
/// fabricated, every item dropped exactly once, and (if `lin`) the history
/// linearizes against the spec and the quiescent state answers the probe
/// exactly as the spec's does.
fn pool_scenario(scripts: Vec<Vec<Step>>, lin: bool) {
    let with_cleanup = scripts.iter().flatten().any(|s| matches!(s, Step::Cleanup));
    let run = PoolRun::new();
    let handles: Vec<_> = scripts
        .into_iter()
        .map(|steps| {
            let run = run.clone();
            thread::spawn(move || run.run(&steps, !with_cleanup))
        })
        .collect();
    let mut got: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut run = Arc::try_unwrap(run).unwrap_or_else(|_| panic!("threads joined"));
    let events = std::mem::take(run.events.get_mut().unwrap());
    let slots: Vec<usize> = events
        .iter()
        .filter(|e| e.op != PoolOp::Cleanup)
        .map(|e| e.slot)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let probe = run_probe(&slots, |s| run.pool.as_slot(s).try_get().map(|i| i.id()));
    got.extend(probe.iter().flatten());
    let created = *run.next_id.get_mut();
    let distinct: BTreeSet<u64> = got.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        got.len(),
        "an item was returned twice: {got:?}"
    );
    assert!(
        got.iter().all(|&id| id < created),
        "fabricated item: {got:?}"
    );
    let verdict = if lin {
        check_pool(&events, &slots, &probe).map_err(|e| e.to_string())
    } else {
        Ok(())
    };
    let PoolRun { pool, ledger, .. } = run;
    drop(pool);
    // Conservation first (it names lost items): put = got + drained +
    // dropped by cleanup, each exactly once.
    ledger.assert_each_dropped_once(0..created);
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

fn random_scripts(rng: &mut Rng, threads: usize, len: usize, cleanups: bool) -> Vec<Vec<Step>> {
    let mut scripts: Vec<Vec<Step>> = (0..threads)
        .map(|_| {
            (0..len)
                .map(|_| {
                    if rng.below(2) == 0 {
                        Step::Put
                    } else {
                        Step::Get
                    }
                })
                .collect()
        })
        .collect();
    if cleanups {
        let n = 1 + rng.below(2) as usize;
        scripts.push(vec![Step::Cleanup; n]);
    }
    scripts
}

#[test]
fn pool_linearizable_without_cleanup() {
    explore("pool_linearizable_without_cleanup", || {
        let mut rng = script_rng();
        let threads = 3 + rng.below(3) as usize;
        let scripts = random_scripts(&mut rng, threads, 4, false);
        pool_scenario(scripts, true);
    });
}

#[test]
fn pool_linearizable_with_cleanup() {
    explore("pool_linearizable_with_cleanup", || {
        let mut rng = script_rng();
        let threads = 2 + rng.below(3) as usize;
        let scripts = random_scripts(&mut rng, threads, 3, true);
        pool_scenario(scripts, true);
    });
}

/// 8 threads, 24 operations each, cleanups mixed in: no linearization
/// search (too long), but duplicates, fabrication and conservation.
#[test]
fn pool_long_histories() {
    explore("pool_long_histories", || {
        let mut rng = script_rng();
        let mut scripts = random_scripts(&mut rng, 7, 24, false);
        scripts.push(
            (0..12)
                .map(|i| if i % 4 == 0 { Step::Cleanup } else { Step::Get })
                .collect(),
        );
        pool_scenario(scripts, false);
    });
}

/// Adversarial items under shuttle: 3 threads of 6 random steps each and a
/// cleaner, on a pool whose New and reset hooks and whose items' `Drop`
/// call back into the pool (Put, Get, guards, cleanup, `cleanup_all`,
/// `release_thread_slot`, other pools; no panics here), nested up to 2
/// deep. No linearization (re-entrant calls change the state mid-
/// operation): conservation (every item dropped exactly once), no item
/// handed out twice, none used after its drop.
#[test]
fn pool_adversarial_items() {
    use victim_pool_verification::adversary::{Adversary, Config};
    explore("pool_adversarial_items", || {
        let mut rng = script_rng();
        let seed = rng.next_u64();
        let config = Config {
            max_depth: 2,
            meddle_percent: 60,
            panics: false,
            global: true,
            max_per_thread: [None, Some(1), Some(2)][rng.below(3) as usize],
            drop_releases_slot: rng.below(3) == 0,
        };
        let adversary = Adversary::new(seed, config);
        let pool = adversary.pool();
        let workers: Vec<_> = (0..3u64)
            .map(|t| {
                let (adversary, pool) = (adversary.clone(), pool.clone());
                let mut rng = Rng::new(seed ^ (t + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                thread::spawn(move || {
                    let mut held = Vec::new();
                    for _ in 0..6 {
                        adversary.step(&pool, &mut held, &mut rng);
                    }
                    victim_pool::release_thread_slot();
                    held
                })
            })
            .collect();
        let cleaner = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.cleanup();
                victim_pool::cleanup_all();
                pool.cleanup();
                victim_pool::release_thread_slot();
            })
        };
        let mut held = Vec::new();
        for worker in workers {
            held.extend(worker.join().unwrap());
        }
        cleaner.join().unwrap();
        let report = adversary
            .finish(pool, held)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.items > 0, "{report:?}");
    });
}

/// The grace period of retired victim chains (DESIGN.md §6.2), as
/// tests/stress.rs `victim_chain_grace_period` runs it under Miri: an owner
/// fills its private slot and its shared chain and leaves, a cleanup turns
/// its items into the victim generation, then a thief's Gets walk the
/// victim chain while a second cleanup retires exactly that chain. A chain
/// freed while the thief may still be inside it (the mutant
/// `cleanup_frees_victim_early`) is caught by the facade's use-after-free
/// check (src/sync/trace.rs) the moment the thief touches it again.
#[test]
fn victim_chain_grace_period() {
    explore("victim_chain_grace_period", || {
        let ledger = Ledger::new();
        let pool = Arc::new(Pool::<Tracked>::builder().manual_cleanup().build());
        let items = 4;
        {
            let (pool, ledger) = (pool.clone(), ledger.clone());
            thread::spawn(move || {
                for id in 0..items {
                    pool.put(ledger.item(id));
                }
                victim_pool::release_thread_slot();
            })
            .join()
            .unwrap();
        }
        pool.cleanup();
        let thief = {
            let pool = pool.clone();
            thread::spawn(move || {
                // Released even when a check panics in here: a slot lease
                // left to the thread-local destructor would be dropped after
                // shuttle has torn the execution down (an abort).
                struct Release;
                impl Drop for Release {
                    fn drop(&mut self) {
                        victim_pool::release_thread_slot();
                    }
                }
                let _release = Release;
                (0..2)
                    .filter_map(|_| pool.try_get().map(|item| item.id()))
                    .collect::<Vec<u64>>()
            })
        };
        let cleaner = {
            let pool = pool.clone();
            thread::spawn(move || pool.cleanup())
        };
        let got = thief.join().unwrap();
        cleaner.join().unwrap();
        let distinct: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(distinct.len(), got.len(), "an item was got twice: {got:?}");
        let pool = Arc::try_unwrap(pool).unwrap_or_else(|_| panic!("threads joined"));
        drop(pool);
        ledger.assert_each_dropped_once(0..items);
    });
}
