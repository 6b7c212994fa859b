//! `fork(2)` in a process that uses pools (DESIGN.md §6.5): the child
//! inherits no held pool lock and no half-done cleanup; slots of threads
//! that did not survive the fork are treated like exited threads', or
//! quarantined if they were inside an operation, and never hold back what
//! the child retires.

#![cfg(all(target_os = "linux", not(miri)))]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;

use common::{exited_ok, fork_and_check, fork_with_alarm, DropLedger};
use victim_pool::Pool;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_child_forked_while_no_operation_is_in_flight_works_normally() {
    let _serial = serial();
    let ledger = DropLedger::new(40);
    let pool = Arc::new(Pool::builder().manual_cleanup().build());
    for id in 0..20 {
        pool.put(ledger.item(id));
    }
    // Another thread holds items in its own slot and stays alive, idle.
    let (release, released) = mpsc::channel::<()>();
    let (ready, is_ready) = mpsc::channel();
    let idle = {
        let (pool, ledger) = (pool.clone(), ledger.clone());
        thread::spawn(move || {
            for id in 20..40 {
                pool.put(ledger.item(id));
            }
            ready.send(()).unwrap();
            released.recv().unwrap();
        })
    };
    is_ready.recv().unwrap();
    let status = fork_and_check(|| {
        // The idle thread does not exist here: its slot is released like
        // an exited thread's. Two cleanups drop all 40 items.
        pool.cleanup();
        pool.cleanup();
        let all_released = ledger.total_drops() == 40;
        // And the pool works, from this thread and from new ones.
        let fresh = DropLedger::new(2);
        pool.put(fresh.item(0));
        let mine = pool.try_get().map(|item| item.id) == Some(0);
        let pool2 = pool.clone();
        let fresh2 = fresh.clone();
        let other = thread::spawn(move || {
            pool2.put(fresh2.item(1));
            pool2.try_get().map(|item| item.id) == Some(1)
        })
        .join()
        .unwrap_or(false);
        all_released && mine && other && pool.stats().retired_waiting == 0
    });
    release.send(()).unwrap();
    idle.join().unwrap();
    assert!(exited_ok(status), "child failed: wait status {status:#x}");
}

#[test]
fn forks_while_other_threads_use_and_clean_pools_never_deadlock_the_child() {
    let _serial = serial();
    let pool = Arc::new(
        Pool::builder()
            .manual_cleanup()
            .new_fn(|| vec![0u8; 64])
            .build(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|t| {
            let (pool, stop) = (pool.clone(), stop.clone());
            thread::spawn(move || {
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let buffers: Vec<_> = (0..1 + round % 20).map(|_| pool.get()).collect();
                    for buffer in buffers {
                        pool.put(buffer);
                    }
                    if (round + t) % 7 == 0 {
                        pool.cleanup();
                    }
                    round += 1;
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for _ in 0..40 {
        let status = fork_and_check(|| {
            // Batches retired before the fork and held by a thread that was
            // inside an operation then stay (quarantined); none retired here
            // is held back.
            let inherited = pool.stats().retired_waiting;
            // Whatever the other threads were doing at the fork: the pool
            // works and cleanups complete (no inherited lock is held).
            for _ in 0..50 {
                let buffer = pool.get();
                pool.put(buffer);
            }
            pool.cleanup();
            victim_pool::cleanup_all();
            pool.cleanup();
            let fresh = Pool::builder().manual_cleanup().new_fn(|| 7u32).build();
            fresh.put(fresh.get());
            fresh.cleanup();
            pool.stats().retired_waiting <= inherited
        });
        if !exited_ok(status) {
            failures.push(status);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(failures.is_empty(), "children failed: {failures:x?}");
}

/// A thread that runs `op` in a loop until the returned guard is dropped
/// (then joined).
fn looping(op: impl Fn() + Send + 'static) -> impl Drop {
    struct Stop(Arc<AtomicBool>, Option<thread::JoinHandle<()>>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
            if let Some(thread) = self.1.take() {
                thread.join().unwrap();
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let (started, is_started) = mpsc::channel();
    let thread = thread::spawn(move || {
        op();
        started.send(()).unwrap();
        while !stopped.load(Ordering::Relaxed) {
            op();
        }
    });
    is_started.recv().unwrap();
    Stop(stop, Some(thread))
}

/// Forks up to `rounds` times (`fork_one` forks once and returns the
/// child's wait status); the status of the first child that failed or hung.
fn first_failed_child(rounds: u64, mut fork_one: impl FnMut(u64) -> i32) -> Option<i32> {
    (0..rounds)
        .map(&mut fork_one)
        .find(|&status| !exited_ok(status))
}

/// A `LocalHandle` keeps its slot past `release_thread_slot`, and the
/// thread's next operation leases a second one: in a child, both are the
/// forking thread's, so grace periods wait for the handle's operations (the
/// old child handler counted the handle's slot as lost, and a cleanup in
/// the child freed chains the handle was stealing from: a use after free).
#[test]
fn a_handle_kept_past_release_thread_slot_stays_the_forking_threads_in_the_child() {
    let _serial = serial();
    let pool = Pool::builder()
        .manual_cleanup()
        .new_fn(|| vec![0u8; 32])
        .build();
    let handle = pool.local();
    victim_pool::release_thread_slot();
    pool.put(pool.get());
    assert_ne!(pool.local().slot(), handle.slot());
    for _ in 0..4 {
        let status = fork_and_check(|| {
            let pool = &pool;
            let done = AtomicBool::new(false);
            let done = &done;
            thread::scope(|scope| {
                // Fills its own chain and cleans, so chains are retired and
                // freed all the time...
                scope.spawn(move || {
                    for _ in 0..common::scaled(3_000) {
                        let items: Vec<_> = (0..24).map(|_| pool.get()).collect();
                        items.into_iter().for_each(|item| pool.put(item));
                        pool.cleanup();
                    }
                    done.store(true, Ordering::Relaxed);
                });
                // ...while the handle steals from them.
                let mut stolen = 0u64;
                while !done.load(Ordering::Relaxed) {
                    if let Some(item) = handle.try_get() {
                        stolen += item.len() as u64;
                    }
                }
                stolen > 0
            })
        });
        assert!(exited_ok(status), "child failed: wait status {status:#x}");
    }
}

/// `stats` takes no lock a fork could copy held into the child (the old
/// one locked the pool's cleanup state outside the fork gate: a fork while
/// another thread was inside `stats` left the child's first `cleanup` or
/// `stats` of that pool waiting for ever).
#[test]
fn stats_in_flight_at_a_fork_leave_the_child_no_lock_held() {
    let _serial = serial();
    let pool = Arc::new(Pool::builder().manual_cleanup().new_fn(|| 1u64).build());
    pool.put(pool.get());
    let reader = {
        let pool = pool.clone();
        looping(move || {
            std::hint::black_box(pool.stats());
        })
    };
    let failed = first_failed_child(common::scaled(200).max(40) as u64, |_| {
        fork_with_alarm(5, || {
            pool.cleanup();
            pool.stats().cleanups >= 1
        })
    });
    drop(reader);
    assert_eq!(failed, None, "a child failed or hung (its wait status)");
}

/// A sweep (`cleanup_all` or the cleanup thread) holds a pool only under
/// the fork gate, so a child never inherits a reference that no thread
/// gives back (the old sweep took the pool before the gate: a fork in
/// between left `Pool::drop` in the child waiting for ever).
#[test]
fn a_sweep_in_flight_at_a_fork_leaves_the_child_free_to_drop_its_pools() {
    let _serial = serial();
    let mut pools: Option<Vec<Pool<u64>>> = Some(
        (0..16)
            .map(|_| Pool::builder().manual_cleanup().build())
            .collect(),
    );
    let sweeper = looping(victim_pool::cleanup_all);
    let failed = first_failed_child(100, |round| {
        for pool in pools.iter().flatten() {
            pool.put(round);
        }
        // The child drops its copy of the pools; the parent keeps its own.
        fork_with_alarm(5, || {
            drop(pools.take());
            true
        })
    });
    drop(sweeper);
    assert_eq!(failed, None, "a child failed or hung (its wait status)");
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_slot_lost_inside_an_operation_is_quarantined_and_holds_back_nothing_retired_later() {
    use victim_pool::fault_injection;

    let _serial = serial();
    let pool = Arc::new(Pool::builder().manual_cleanup().build());
    // A thread stalls inside a Get: in the child it is gone mid-operation.
    fault_injection::stall_next_slow_get();
    let stuck = {
        let pool = pool.clone();
        thread::spawn(move || drop(pool.try_get()))
    };
    while !fault_injection::stalled() {
        thread::yield_now();
    }
    let status = fork_and_check(|| {
        let ledger = DropLedger::new(200);
        let mut ok = true;
        for round in 0..5 {
            // Fresh items each round, so each cleanup retires a chain.
            for id in round * 40..round * 40 + 40 {
                pool.put(ledger.item(id));
            }
            pool.cleanup();
            // The lost thread's pin (active for ever) holds nothing back.
            let waiting = pool.stats().retired_waiting;
            if waiting != 0 {
                common::explain_call(&format!(
                    "in the child, cleanup {round}: {waiting} retired batch(es) still wait for the lost thread's pin"
                ));
            }
            ok &= waiting == 0;
        }
        pool.cleanup();
        pool.cleanup();
        ok && ledger.total_drops() == 200
    });
    fault_injection::release_stall();
    stuck.join().unwrap();
    assert!(exited_ok(status), "child failed: wait status {status:#x}");
}
